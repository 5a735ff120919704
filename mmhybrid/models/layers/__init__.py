from .gnconv import (GlobalLocalFilter, GnConv, GnConvModule, LayerNorm2d,
                     adapt_complex_weight, linear_of_recomputed)
from .swin import (PatchMerging, SwinStagesMixin, relative_position_index,
                   resize_relative_table, window_attention_mask)

__all__ = [
    'GlobalLocalFilter', 'GnConv', 'GnConvModule', 'LayerNorm2d',
    'adapt_complex_weight', 'linear_of_recomputed', 'PatchMerging',
    'SwinStagesMixin', 'relative_position_index', 'resize_relative_table',
    'window_attention_mask'
]
