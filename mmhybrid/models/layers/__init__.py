from .gnconv import GlobalLocalFilter, GnConv, LayerNorm2d, adapt_complex_weight

__all__ = ['GlobalLocalFilter', 'GnConv', 'LayerNorm2d', 'adapt_complex_weight']
