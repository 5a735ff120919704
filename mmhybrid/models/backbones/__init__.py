from .acmix import ResNetACmix, SwinACmix
from .base_backbone import BaseBackbone
from .hornet import HorNet
from .sgformer import SGFormer

__all__ = ['BaseBackbone', 'ResNetACmix', 'SwinACmix', 'HorNet', 'SGFormer']
