from .gnconv import (GlobalLocalFilter, GnConv, GnConvModule, LayerNorm2d,
                     adapt_complex_weight)

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'LayerNorm2d',
    'adapt_complex_weight'
]
