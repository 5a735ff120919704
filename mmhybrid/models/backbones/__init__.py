from .base_backbone import BaseBackbone

__all__ = ['BaseBackbone']
