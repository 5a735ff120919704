from .acmix import ResNetACmix, SwinACmix
from .base_backbone import BaseBackbone
from .hatnet import HATNet, TransCNN
from .hornet import HorNet
from .lsla import ViTLSLA
from .sgformer import SGFormer

__all__ = [
    'BaseBackbone', 'ResNetACmix', 'SwinACmix', 'HorNet', 'HATNet',
    'TransCNN', 'ViTLSLA', 'SGFormer'
]
