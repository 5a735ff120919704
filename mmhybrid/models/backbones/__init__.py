from .base_backbone import BaseBackbone
from .hornet import HorNet

__all__ = ['BaseBackbone', 'HorNet']
