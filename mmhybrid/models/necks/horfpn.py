# Copyright (c) mmhybrid contributors. All rights reserved.
"""HorFPN: an FPN whose output convs are gnConvs (needs mmdet).

From `HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions <https://arxiv.org/abs/2207.14284>`_; adapted from the official
``GNFPN`` of https://github.com/raoyongming/HorNet (MIT).
"""
from typing import List, Optional

from mmdet.models.necks import FPN

from mmhybrid.registry import MODELS
from ..layers import GnConvModule


@MODELS.register_module()
class HorFPN(FPN):
    """mmdet's FPN with a gnConv in place of each 3x3 output conv.

    After the top-down fusion, every pyramid level built from a backbone
    level goes through a :class:`~mmhybrid.models.layers.GnConvModule`
    (order 2, no scale) instead of a 3x3 conv: 7x7 depthwise ("HorFPN 7x7")
    or global filter (``gnconv_cfg=dict(gf_size=(32, 17))``, "HorFPN GF",
    the official ``type='gngf'`` with its default ``h=32, w=17``).
    Parameter names match the official ``GNFPN``
    (``fpn_convs.i.{proj_in,dwconv,pws,proj_out}``).

    Extra levels: with ``add_extra_convs=False`` (the official setting)
    they are max-pooled from the last output. Other values keep FPN's plain
    3x3 stride-2 convs; the official GNFPN crashes for them, so there is no
    reference to follow.

    Args:
        in_channels (list[int]): Channels of each backbone level.
        out_channels (int): Channels of every output level.
        num_outs (int): Number of output levels.
        gnconv_cfg (dict): :class:`~mmhybrid.models.layers.GnConv` arguments
            (``order``, ``kernel_size``, ``gf_size``, ``proj_out``,
            ``dim_ratio``). Defaults to
            ``dict(order=2, kernel_size=7, proj_out=True)``.
        norm_cfg (dict, optional): Norm of the lateral convs and after each
            gnConv. Defaults to None.
        act_cfg (dict, optional): Activation of the lateral convs and after
            each gnConv. Defaults to None.
        **kwargs: Other arguments of mmdet's ``FPN`` (``start_level``,
            ``end_level``, ``add_extra_convs``, ``upsample_cfg``, ``init_cfg``
            (Xavier-uniform on every Conv2d by default), ...).
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 num_outs: int,
                 gnconv_cfg: dict = dict(
                     order=2, kernel_size=7, proj_out=True),
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(in_channels, out_channels, num_outs,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, **kwargs)
        for i in range(len(self.lateral_convs)):
            self.fpn_convs[i] = GnConvModule(
                out_channels, out_channels, norm_cfg=norm_cfg,
                act_cfg=act_cfg, **gnconv_cfg)
