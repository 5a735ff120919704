from .acmix import ResNetACmix, SwinACmix
from .base_backbone import BaseBackbone
from .hatnet import HATNet, TransCNN
from .hornet import HorNet, HorNetCls
from .lsla import ViTLSLA
from .sgformer import SGFormer

__all__ = [
    'BaseBackbone', 'ResNetACmix', 'SwinACmix', 'HorNet', 'HorNetCls',
    'HATNet', 'TransCNN', 'SGFormer', 'ViTLSLA'
]
