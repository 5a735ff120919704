# Copyright (c) mmhybrid contributors. All rights reserved.
"""UPerHead with a gnConv fusion layer (HorFPN for segmentation; needs mmseg).

From `HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions <https://arxiv.org/abs/2207.14284>`_; adapted from the official
``GNUPerHead`` of https://github.com/raoyongming/HorNet (MIT).
"""
from mmseg.models.decode_heads import UPerHead

from mmhybrid.registry import MODELS
from ..layers import GnConvModule


@MODELS.register_module()
class GNUPerHead(UPerHead):
    """mmseg's UPerHead whose ``fpn_bottleneck`` is a gnConv.

    The 3x3 conv that fuses the concatenated pyramid features is replaced
    by a :class:`~mmhybrid.models.layers.GnConvModule` (order 2, no scale)
    followed by the head's norm and activation, as in the official code.
    Everything else (PPM, laterals, 3x3 FPN convs) is UPerHead's. Parameter
    names match the official head
    (``fpn_bottleneck.{proj_in,dwconv,pws,proj_out,bn}``).

    The official configs use ``gnconv_cfg=dict(kernel_size=7,
    proj_out=True)`` ("7x7") and ``gnconv_cfg=dict(gf_size=(32, 17),
    proj_out=True)`` ("GF", the official ``type='gngf'`` with ``h=32``).
    Unlike the official head, the gnConv settings have their own argument
    and do not shadow mmseg's ``conv_cfg``.

    Args:
        pool_scales (tuple[int]): Pooling scales of the PPM on the last
            input. Defaults to (1, 2, 3, 6).
        gnconv_cfg (dict): :class:`~mmhybrid.models.layers.GnConv` arguments
            (``order``, ``kernel_size``, ``gf_size``, ``proj_out``,
            ``dim_ratio``). Defaults to the official defaults
            ``dict(order=2, kernel_size=3, proj_out=False)``.
        **kwargs: Arguments of mmseg's ``BaseDecodeHead`` (``in_channels``,
            ``channels``, ``num_classes``, ``norm_cfg``, ...).
    """

    def __init__(self,
                 pool_scales: tuple = (1, 2, 3, 6),
                 gnconv_cfg: dict = dict(
                     order=2, kernel_size=3, proj_out=False),
                 **kwargs) -> None:
        super().__init__(pool_scales=pool_scales, **kwargs)
        self.fpn_bottleneck = GnConvModule(
            len(self.in_channels) * self.channels,
            self.channels,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg,
            **gnconv_cfg)
