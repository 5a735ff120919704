# Copyright (c) mmhybrid contributors. All rights reserved.
"""HorNet, a backbone of recursive gated convolutions (gnConv).

`HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions <https://arxiv.org/abs/2207.14284>`_ (NeurIPS 2022).

Adapted from https://github.com/raoyongming/HorNet (MIT). Parameter names
follow the official code (``stages.i.j.gnconv.pws``, raw ``gamma1``), except
that the official ``downsample_layers.0`` is called ``stem`` here, so
official classification, detection and segmentation checkpoints and the
mmpretrain port load through :meth:`HorNet.convert_official`.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from torch import Tensor

from mmhybrid.registry import MODELS
from ..layers import GnConv, LayerNorm2d, adapt_complex_weight
from ..utils.checkpoint import extract_state_dict
from .base_backbone import ArchType, BaseBackbone


#: Global filter sizes of the GF variants (stages 2-3): the rfft grids of the
#: 14x14 / 7x7 maps of a 224 input, and of the 24x24 / 12x12 maps of a 384
#: one. Official detection keeps GF_224 (L: GF_384), segmentation uses GF_384.
GF_224 = (None, None, (14, 8), (7, 4))
GF_384 = (None, None, (24, 13), (12, 7))


def _variant(base_dim: int, gf_sizes: Sequence = (None, ) * 4) -> Dict:
    """An official variant: depths [2, 3, 18, 2], orders [2, 3, 4, 5]."""
    return dict(base_dim=base_dim, depths=[2, 3, 18, 2], orders=[2, 3, 4, 5],
                gf_sizes=list(gf_sizes))


class HorNetBlock(nn.Module):
    """A HorNet block: gnConv and an MLP, each in a layer-scaled residual.

    ``x = x + drop_path(gamma1 * gnconv(norm1(x)))``, then
    ``x = x + drop_path(gamma2 * mlp(norm2(x)))`` (the MLP in NHWC).

    Args:
        dim (int): Number of channels.
        order (int): Order of the gnConv.
        gf_size (Sequence[int], optional): ``(h, w)`` of the global filter;
            None for a depthwise conv. Defaults to None.
        kernel_size (int): Kernel of the depthwise conv. Defaults to 7.
        scale (float): Scale of the depthwise output. Defaults to 1/3.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        layer_scale_init_value (float): Initial value of ``gamma1`` and
            ``gamma2``; ``<= 0`` disables layer scale. Defaults to 1e-6.
    """

    def __init__(self,
                 dim: int,
                 order: int,
                 gf_size: Optional[Sequence[int]] = None,
                 kernel_size: int = 7,
                 scale: float = 1 / 3,
                 drop_path: float = 0.,
                 layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim)
        self.gnconv = GnConv(dim, order=order, kernel_size=kernel_size,
                             gf_size=gf_size, scale=scale)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        if layer_scale_init_value > 0:
            self.gamma1 = nn.Parameter(layer_scale_init_value *
                                       torch.ones(dim))
            self.gamma2 = nn.Parameter(layer_scale_init_value *
                                       torch.ones(dim))
        else:
            self.gamma1 = self.gamma2 = None
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.gnconv(self.norm1(x))
        if self.gamma1 is not None:
            y = self.gamma1.view(-1, 1, 1) * y
        x = x + self.drop_path(y)

        y = self.norm2(x.permute(0, 2, 3, 1))
        y = self.pwconv2(self.act(self.pwconv1(y)))
        if self.gamma2 is not None:
            y = self.gamma2 * y
        return x + self.drop_path(y.permute(0, 3, 1, 2))


@MODELS.register_module()
class HorNet(BaseBackbone):
    """HorNet backbone for classification, detection and segmentation.

    A 4x4 stride-4 stem, then stages of :class:`HorNetBlock` at channels
    ``base_dim * 2**i``, with a LayerNorm + 2x2 stride-2 conv between stages.
    Every returned stage output goes through its own LayerNorm ``norm{i}``
    (as in the official detection/segmentation code; built only for
    ``out_indices``). The "GF" variants replace the 7x7 depthwise conv of the
    last two stages by a :class:`~mmhybrid.models.layers.GlobalLocalFilter`,
    whose filter is resized to any feature size at run time and to the
    configured ``gf_sizes`` at load time.

    Args:
        arch (str | dict): A key of :attr:`arch_zoo` (``'t'``/``'tiny'``,
            ``'t-gf'``/``'tiny-gf'``, ``'s'``, ``'s-gf'``, ``'b'``,
            ``'b-gf'``, ``'b-gf384'``, ``'l'``, ``'l-gf'``, ``'l-gf384'``
            and their long names) or a dict with:

            - **base_dim** (int): Channels of the first stage.
            - **depths** (list[int]): Blocks per stage.
            - **orders** (list[int]): gnConv order per stage.
            - **gf_sizes** (list[tuple | None]): Global filter ``(h, w)`` per
              stage, None for a depthwise conv. Defaults to all None.
            - **kernel_size** (int): Depthwise kernel. Defaults to 7.
            - **scale** (float): gnConv scale. Defaults to 1/3.

            A dict may name a variant to update with ``base``, e.g.
            ``dict(base='t-gf', gf_sizes=[None, None, (24, 13), (12, 7)])``
            (the official segmentation filters). Defaults to 'tiny'.
        drop_path_rate (float): Stochastic depth rate of the last block,
            linearly increasing from 0 over all blocks. Defaults to 0.
        layer_scale_init_value (float): Initial layer scale; ``<= 0``
            disables it. Defaults to 1e-6.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``init_cfg`` and ``pretrained`` of
            :class:`BaseBackbone`.

    Example:
        >>> import torch
        >>> from mmhybrid.models import HorNet
        >>> model = HorNet(arch=dict(base_dim=8, depths=[1, 1, 2, 1],
        ...                          orders=[2, 3, 4, 5])).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 96))]
        [(1, 8, 16, 24), (1, 16, 8, 12), (1, 32, 4, 6), (1, 64, 2, 3)]
    """
    # yapf: disable
    # The 4x4 stem and 2x2 downsamplings floor sizes: pad to the total stride
    # (what mmdet/mmseg do anyway), so any input gives ceil(H / stride).
    input_divisor = 32
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'],              _variant(64)),
        **dict.fromkeys(['t-gf', 'tiny-gf'],        _variant(64, GF_224)),
        **dict.fromkeys(['s', 'small'],             _variant(96)),
        **dict.fromkeys(['s-gf', 'small-gf'],       _variant(96, GF_224)),
        **dict.fromkeys(['b', 'base'],              _variant(128)),
        **dict.fromkeys(['b-gf', 'base-gf'],        _variant(128, GF_224)),
        **dict.fromkeys(['b-gf384', 'base-gf384'],  _variant(128, GF_384)),
        **dict.fromkeys(['l', 'large'],             _variant(192)),
        **dict.fromkeys(['l-gf', 'large-gf'],       _variant(192, GF_224)),
        **dict.fromkeys(['l-gf384', 'large-gf384'], _variant(192, GF_384)),
    }
    # yapf: enable
    essential_keys = frozenset({'base_dim', 'depths', 'orders'})
    optional_keys = frozenset({'gf_sizes', 'kernel_size', 'scale'})
    #: The official ``_init_weights``: trunc normal on Conv2d and Linear.
    default_init_cfg = dict(
        type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.)

    def __init__(self,
                 arch: ArchType = 'tiny',
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 1e-6,
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        arch = self.arch_settings
        depths, orders = list(arch['depths']), list(arch['orders'])
        num_stages = len(depths)
        gf_sizes = list(arch.get('gf_sizes') or [None] * num_stages)
        dims = [arch['base_dim'] * 2**i for i in range(num_stages)]

        patch = 4
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, dims[0], patch, stride=patch),
            LayerNorm2d(dims[0]))
        self.downsample_layers = nn.ModuleList([nn.Identity()] + [
            nn.Sequential(
                LayerNorm2d(dims[i - 1]),
                nn.Conv2d(dims[i - 1], dims[i], kernel_size=2, stride=2))
            for i in range(1, num_stages)
        ])
        dpr = torch.linspace(0, drop_path_rate, sum(depths),
                             device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.stages.append(nn.Sequential(*[
                HorNetBlock(
                    dims[i],
                    order=orders[i],
                    gf_size=gf_sizes[i],
                    kernel_size=arch.get('kernel_size', 7),
                    scale=arch.get('scale', 1 / 3),
                    drop_path=dpr[start + j],
                    layer_scale_init_value=layer_scale_init_value)
                for j in range(depth)
            ]))
            self.feature_info.append(dict(
                num_chs=dims[i], reduction=patch * 2**i, module=f'stages.{i}'))
        for i in self.out_indices:
            self.add_module(f'norm{i}', LayerNorm2d(dims[i]))
        self._freeze_stages()

    def stage_modules(self, i: int) -> List[nn.Module]:
        return [self.downsample_layers[i]] + super().stage_modules(i)

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.downsample_layers[i](x)
        for block in self.stages[i]:
            x = self.run_block(block, x)
        norm = getattr(self, f'norm{i}', None)
        return x, (norm(x) if norm is not None else x)

    def param_position(self, name: str) -> Tuple[Optional[int], int]:
        parts = name.split('.')
        if parts[0] == 'stem':
            return 0, -1
        if parts[0] == 'downsample_layers':
            return int(parts[1]), -1
        if parts[0] == 'stages':
            return int(parts[1]), int(parts[2])
        return None, 0

    def get_layer_depth(self, name: str, decay_type: str = 'layer_wise',
                        num_layers: int = 12) -> Tuple[int, int]:
        """Layer ids of the official HorNet det/seg decay constructor.

        Layer-wise, the ids are those of a 12-layer HorNet whatever
        ``num_layers`` is: stem 0, stage 0 1, stage 1 2, stage 2 downsample
        3 and blocks ``min(3 + b // 2, 11)``, stage 3 12; parameters outside
        the stages ``num_layers + 1``. So with the official HorFPN recipes'
        ``num_layers=6`` the deep layers get LR scales above 1, exactly as
        there. Stage-wise follows the base rule, which is the official one.
        """
        if decay_type != 'layer_wise':
            return super().get_layer_depth(name, decay_type, num_layers)
        total = num_layers + 2
        stage, block = self.param_position(name)
        if stage is None:
            layer = total - 1
        elif stage < 2:
            layer = 2 if stage == 1 else (0 if block == -1 else 1)
        elif stage == 2:
            layer = 3 if block == -1 else min(3 + block // 2, 11)
        else:
            layer = 12
        return layer, total

    # ---------------------------------------------------- checkpoints ----
    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Map an official or mmpretrain HorNet state dict to this layout.

        Accepts official classification keys, official det/seg fine-tuned
        keys (``backbone.`` prefix; ``norm0..3`` kept) and the mmpretrain
        port (``gnconv.projs``, ``gamma1.weight``). Drops classifiers
        (``head.*``) and the classification final norm (official ``norm.*``;
        mmpretrain's ``norm3.*`` when no ``norm0..2`` come with it), which the
        official det/seg code does not load either. Pure and idempotent.
        """
        state_dict = extract_state_dict(state_dict)
        mmpretrain = any('.gnconv.projs.' in k or '.gamma1.weight' in k
                         for k in state_dict)
        cls_norm3 = mmpretrain and not any(
            k.startswith(('norm0.', 'norm1.', 'norm2.')) for k in state_dict)
        converted = {}
        for key, value in state_dict.items():
            if key.startswith(('head.', 'norm.')) or \
                    (cls_norm3 and key.startswith('norm3.')):
                continue
            key = re.sub(r'^downsample_layers\.0\.', 'stem.', key)
            key = key.replace('.gnconv.projs.', '.gnconv.pws.')
            key = re.sub(r'\.(gamma[12])\.weight$', r'.\1', key)
            converted[key] = value
        return converted

    def adapt_pretrained(self, key: str, value: Tensor,
                         target: Tensor) -> Optional[Tensor]:
        """Resize a global filter to the configured ``gf_sizes`` (as the
        official det/seg loader does); other mismatches are not adapted."""
        if key.endswith('complex_weight') and value.ndim == 4 and \
                value.shape[0] == target.shape[0] and value.shape[3] == 2:
            return adapt_complex_weight(value, target.shape[1:3])
        return None


@MODELS.register_module()
class HorNetCls(HorNet):
    """HorNet as the official classifier computes its features.

    The official classifier ends with ``norm(x.mean([-2, -1]))``: global
    average pooling, *then* a LayerNorm (the det/seg backbone instead norms
    every output map). Here the output norm of the last stage,
    ``norm{num_stages - 1}``, runs on the pooled map, so that output is
    ``(N, C, 1, 1)``; it is mmpretrain's ``gap_before_final_norm=True``.
    With ``neck=dict(type='GlobalAveragePooling')`` (a no-op flatten) and a
    ``LinearClsHead`` this is the official classifier, and its checkpoints
    load as released: the final ``norm`` goes to ``norm3``, ``head`` to the
    classifier's ``head.fc`` (mmpretrain's converted files, which name the
    final norm ``norm3``, load too). Other outputs are HorNet's.

    Takes the arguments of :class:`HorNet`; for a classifier use
    ``out_indices=(3, )``.
    """

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        norm = getattr(self, f'norm{i}', None)
        if i < self.num_stages - 1 or norm is None:
            return super().forward_stage(i, x)
        x = self.downsample_layers[i](x)
        for block in self.stages[i]:
            x = self.run_block(block, x)
        return x, norm(x.mean((2, 3), keepdim=True))

    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """:meth:`HorNet.convert_official`, keeping the classifier's final
        norm (official ``norm.*``, mmpretrain ``norm3.*``) as ``norm3``."""
        state_dict = extract_state_dict(state_dict)
        final = {'norm3.' + k.split('.', 1)[1]: v
                 for k, v in state_dict.items()
                 if k.startswith(('norm.', 'norm3.'))}
        return {**super().convert_official(state_dict), **final}
