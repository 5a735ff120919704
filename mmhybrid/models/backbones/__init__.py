from .acmix import ResNetACmix, SwinACmix
from .base_backbone import BaseBackbone
from .hornet import HorNet
from .lsla import ViTLSLA

__all__ = ['BaseBackbone', 'ResNetACmix', 'SwinACmix', 'HorNet', 'ViTLSLA']
