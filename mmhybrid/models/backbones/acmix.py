# Copyright (c) mmhybrid contributors. All rights reserved.
"""ACmix backbones for dense prediction: ResNet-ACmix and Swin-ACmix.

`On the Integration of Self-Attention and Convolution
<https://arxiv.org/abs/2111.14556>`_ (Pan et al., CVPR 2022). Reimplemented
from the official modules (https://github.com/LeapLabTHU/ACmix, commit
``81dddb6``, no licence file), not copied.

ACmix computes the 1x1 q/k/v projections once and reads them two ways: an
attention path, and a convolution path (:func:`acmix_conv_path`: ``fc``
mixes the ``3 x heads`` maps of every head channel into ``k*k`` maps, then
``dep_conv``, a grouped ``k x k`` conv initialised as the shifts of the
paper's Fig. 3), mixed as ``rate1 * attention + rate2 * convolution``.
:class:`ResNetACmix` puts :class:`ACmix` (7x7 sliding-window attention with
position encodings, 4 heads, 3x3 conv path) in place of every bottleneck's
3x3 conv; :class:`SwinACmix` puts :class:`WindowACmix` (Swin's W-MSA; conv
path on the shifted map) in place of every window attention.

Departures from the official code, none of which changes what it computes
where it runs (reasons and border rules in configs/acmix/README.md): the
sliding-window attention is computed by tiles, not from unfolded keys; the
q/k/v convs are one ``qkv``; ``rate1``/``rate2`` are applied inside the
ops; ResNet: reflection padding continues on maps smaller than the window,
stride-2 ACmix returns ``ceil(n / 2)``, and in training q/k/v are
recomputed in backward, not kept (:class:`_ProjectedACmix`); Swin: maps are
padded to window multiples with padding kept out of real tokens, and small
maps keep the window.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmhybrid.registry import MODELS
from ..layers.recompute import (AutocastState, autocast_like, autocast_state,
                                records_grad)
from ..layers.sliding_window_attention import (
    attention_backward, attention_forward, sliding_window_attention)
from ..layers.swin import (PatchMerging, SwinStagesMixin, crop,
                           padded_size, relative_position_index,
                           resize_relative_table, traced)
from ..layers.window_msa import window_msa
from .base_backbone import BaseBackbone, Stage

# --------------------------------------------------------------- helpers ----


def shift_kernel(kernel_size: int, out_channels: int) -> Tensor:
    """The shift initialisation of ``dep_conv`` (the paper's Fig. 3).

    Input channel ``j`` of every group is moved by
    ``(j // k - k // 2, j % k - k // 2)``, so the grouped conv sums the ``k*k``
    shifted maps: a ``k x k`` convolution written as shift and sum.

    Args:
        kernel_size (int): ``k``.
        out_channels (int): Output channels of ``dep_conv``.

    Returns:
        Tensor: Weight of shape ``(out_channels, k*k, k, k)``.
    """
    k2 = kernel_size * kernel_size
    kernel = torch.zeros(k2, kernel_size, kernel_size)
    for i in range(k2):
        kernel[i, i // kernel_size, i % kernel_size] = 1.
    return kernel.repeat(out_channels, 1, 1, 1)


def _linspace(start: float, end: float, steps: int, dtype: torch.dtype,
              device: torch.device) -> Tensor:
    """``torch.linspace`` for a symbolic ``steps`` (its shape function
    specialises it under ``torch.export``): the formula of PyTorch's scalar
    CPU kernel, first half from ``start``, second half from ``end``."""
    idx = torch.arange(steps, dtype=dtype, device=device)
    step = torch.full((), end - start, dtype=dtype, device=device) / \
        torch.sym_max(steps - 1, 1)
    return torch.where(idx < torch.sym_max(steps // 2, 1),
                       step * idx + start, end - step * (steps - 1 - idx))


def position_grid(h: int, w: int, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """The official ACmix position grid: channel 0 is ``linspace(-1, 1, W)``
    along the width, channel 1 ``linspace(-1, 1, H)`` along the height.

    Returns:
        Tensor: Shape ``(1, 2, h, w)``.
    """
    linspace = _linspace if torch.compiler.is_compiling() else \
        torch.linspace
    loc_w = linspace(-1., 1., w, dtype=dtype, device=device)
    loc_h = linspace(-1., 1., h, dtype=dtype, device=device)
    return torch.stack([loc_w.expand(h, w), loc_h[:, None].expand(h, w)])[None]


def _fc(x: Tensor, weight: Tensor, bias: Optional[Tensor],
        valid: Optional[Tensor]) -> Tensor:
    """``fc`` of the conv path: ``(B, 3 heads, d, H, W)`` -> ``(B, d k*k, H,
    W)`` (channel ``d * k*k + j``), channels-last in memory, where the
    grouped ``dep_conv`` is fastest on CPU; zero where ``valid`` is
    False."""
    f = F.linear(x.permute(0, 3, 4, 2, 1), weight.flatten(1), bias)
    if valid is not None:
        f = f * valid[..., None, None]
    return f.flatten(3).permute(0, 3, 1, 2)


def _shift_conv(f: Tensor, weight: Tensor, stride: int) -> Tensor:
    """``dep_conv``: one group per head channel."""
    return F.conv2d(f, weight, None, stride, weight.shape[-1] // 2, 1,
                    f.shape[1] // weight.shape[1])


def _conv_path_backward(grad: Tensor, x: Tensor, fc_weight: Tensor,
                        fc_bias: Optional[Tensor], conv_weight: Tensor,
                        valid: Optional[Tensor], stride: int,
                        needs: Sequence[bool], autocast: AutocastState
                        ) -> Tuple[Optional[Tensor], ...]:
    """Gradients of :func:`acmix_conv_path` w.r.t. ``x, fc_weight, fc_bias,
    conv_weight`` (None where ``needs`` is False), recomputing ``fc``'s
    output under the forward's ``autocast``."""
    with torch.enable_grad(), autocast_like(autocast):
        leaves = [t if t is None else t.detach().requires_grad_(n)
                  for t, n in zip((x, fc_weight, fc_bias), needs)]
        f = _fc(*leaves, valid)
    # the forward's conv ran in f's dtype (autocast or not)
    weight = conv_weight.to(f.dtype)
    k = weight.shape[-1]
    g_f, g_weight, _ = torch.ops.aten.convolution_backward(
        grad.to(f.dtype), f.detach(), weight, None, [stride] * 2,
        [k // 2] * 2, [1, 1], False, [0, 0], f.shape[1] // weight.shape[1],
        [any(needs[:3]), needs[3], False])
    wanted = [t for t in leaves if t is not None and t.requires_grad]
    res = iter(torch.autograd.grad(f, wanted, g_f) if wanted else ())
    return (*(next(res) if n else None for n in needs[:3]),
            g_weight.to(conv_weight.dtype) if needs[3] else None)


class _ConvPath(torch.autograd.Function):
    """:func:`acmix_conv_path` saving its input, not ``fc``'s output
    (``k*k / 3 heads`` times larger for Swin), which backward recomputes."""

    @staticmethod
    def forward(ctx, x: Tensor, fc_weight: Tensor, fc_bias: Optional[Tensor],
                conv_weight: Tensor, valid: Optional[Tensor],
                stride: int) -> Tensor:
        ctx.autocast = autocast_state(x.device.type)
        ctx.stride = stride
        ctx.save_for_backward(x, fc_weight, fc_bias, conv_weight, valid)
        return _shift_conv(_fc(x, fc_weight, fc_bias, valid), conv_weight,
                           stride)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        *tensors, valid = ctx.saved_tensors
        return (*_conv_path_backward(grad, *tensors, valid, ctx.stride,
                                     ctx.needs_input_grad, ctx.autocast),
                None, None)


def acmix_conv_path(x: Tensor, fc_weight: Tensor, fc_bias: Optional[Tensor],
                    conv_weight: Tensor, stride: int = 1,
                    valid: Optional[Tensor] = None) -> Tensor:
    """ACmix's convolution path, ``dep_conv(fc(x))``.

    Args:
        x (Tensor): The q/k/v maps ``(B, 3 heads, d, H, W)`` (any strides).
        fc_weight (Tensor): ``fc`` weight ``(k*k, 3 heads, ...)``.
        fc_bias (Tensor, optional): ``fc`` bias ``(k*k, )``.
        conv_weight (Tensor): ``dep_conv`` weight ``(C, k*k, k, k)``
            (``C = heads d`` output channels, ``d`` groups).
        stride (int): Stride of ``dep_conv``. Defaults to 1.
        valid (Tensor, optional): ``(H, W)`` mask; ``fc``'s output is zero
            where it is False (padding). Defaults to None.

    Returns:
        Tensor: ``(B, C, ceil(H / stride), ceil(W / stride))``,
        channels-last in memory.
    """
    if records_grad(x, fc_weight, fc_bias, conv_weight):
        return _ConvPath.apply(x, fc_weight, fc_bias, conv_weight, valid,
                               stride)
    return _shift_conv(_fc(x, fc_weight, fc_bias, valid), conv_weight,
                       stride)


# ----------------------------------------------------------- ResNet-ACmix --


class _ProjectedACmix(torch.autograd.Function):
    """:class:`ACmix` from its input: the ``qkv`` 1x1 conv, the attention
    path and the convolution path. Saves the input (kept anyway by the ReLU
    before it), the weights and the attention weights, not the q/k/v map
    (3x the block's width, 423 of 2240 MiB of ResNet-ACmix-50's saved
    tensors at 1x3x800x1216): backward recomputes it, one 1x1 conv."""

    @staticmethod
    def forward(ctx, x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor,
                pe: Tensor, rate1: Tensor, fc_weight: Tensor,
                conv_weight: Tensor, head: int, kernel_att: int,
                stride: int) -> Tensor:
        ctx.autocast = autocast_state(x.device.type)
        qkv = F.conv2d(x, qkv_weight, qkv_bias)
        b, c3, h, w = qkv.shape
        hd = c3 // (3 * head)
        ctx.args = (head, hd, kernel_att, stride)
        att, attn = attention_forward(
            *qkv.view(b, 3, head, hd, h, w).unbind(1), pe, rate1, kernel_att,
            stride, hd**-0.5)
        conv = _shift_conv(_fc(qkv.view(b, 3 * head, hd, h, w), fc_weight,
                               None, None), conv_weight, stride)
        ctx.dtypes = att.dtype, conv.dtype
        ctx.save_for_backward(x, qkv_weight, qkv_bias, pe, rate1, fc_weight,
                              conv_weight, attn)
        return att.view(b, -1, *att.shape[-2:]) + conv

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        (x, qkv_weight, qkv_bias, pe, rate1, fc_weight, conv_weight,
         attn) = ctx.saved_tensors
        head, hd, kernel_att, stride = ctx.args
        needs = ctx.needs_input_grad
        with autocast_like(ctx.autocast):
            qkv = F.conv2d(x, qkv_weight, qkv_bias)
        b, c3, h, w = qkv.shape
        need_qkv = any(needs[:3])
        g_q, g_k, g_v, g_pe, g_rate1 = attention_backward(
            grad.to(ctx.dtypes[0]).reshape(b * head, hd, *grad.shape[-2:]),
            *qkv.view(b, 3, head, hd, h, w).unbind(1), pe, rate1, attn,
            kernel_att, stride, hd**-0.5, [need_qkv] * 3 + list(needs[3:5]),
            ctx.autocast)
        g_conv_path, g_fc, _, g_conv = _conv_path_backward(
            grad.to(ctx.dtypes[1]), qkv.view(b, 3 * head, hd, h, w),
            fc_weight, None, conv_weight, None, stride,
            [need_qkv, needs[5], False, needs[6]], ctx.autocast)
        del qkv
        g_x = g_qkv_weight = g_qkv_bias = None
        if need_qkv:
            # the two paths' gradients summed in place (one map, not three)
            g_qkv = g_conv_path.reshape(b, c3, h, w)
            del g_conv_path
            for part, g in zip(g_qkv.view(b, 3, head, hd, h, w).unbind(1),
                               (g_q, g_k, g_v)):
                part.add_(g)
            del g_q, g_k, g_v
            # the forward's 1x1 conv ran in g_qkv's dtype (autocast or not)
            g_x, g_qkv_weight, g_qkv_bias = \
                torch.ops.aten.convolution_backward(
                    g_qkv, x.to(g_qkv.dtype), qkv_weight.to(g_qkv.dtype),
                    [c3], [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                    list(needs[:3]))
        return (g_x if g_x is None else g_x.to(x.dtype),
                g_qkv_weight if g_qkv_weight is None else
                g_qkv_weight.to(qkv_weight.dtype),
                g_qkv_bias if g_qkv_bias is None else
                g_qkv_bias.to(qkv_bias.dtype), g_pe, g_rate1, g_fc, g_conv,
                None, None, None)


class ACmix(nn.Module):
    """ACmix, the ResNet version (replaces a 3x3 convolution).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels; divisible by ``head``.
        kernel_att (int): Attention window size. Defaults to 7.
        head (int): Attention heads. Defaults to 4.
        kernel_conv (int): Kernel size of the convolution path.
            Defaults to 3.
        stride (int): Stride. Defaults to 1.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_att: int = 7,
                 head: int = 4,
                 kernel_conv: int = 3,
                 stride: int = 1) -> None:
        super().__init__()
        if out_channels % head:
            raise ValueError(f'out_channels ({out_channels}) must be '
                             f'divisible by head ({head})')
        self.out_channels = out_channels
        self.head = head
        self.head_dim = out_channels // head
        self.kernel_att = kernel_att
        self.kernel_conv = kernel_conv
        self.stride = stride
        self.rate1 = nn.Parameter(torch.full((1, ), 0.5))
        self.rate2 = nn.Parameter(torch.full((1, ), 0.5))
        # q, k, v (the official conv1, conv2, conv3) in one 1x1 conv
        self.qkv = nn.Conv2d(in_channels, 3 * out_channels, 1)
        self.conv_p = nn.Conv2d(2, self.head_dim, 1)
        self.fc = nn.Conv2d(3 * head, kernel_conv**2, 1, bias=False)
        self.dep_conv = nn.Conv2d(
            kernel_conv**2 * self.head_dim, out_channels, kernel_conv,
            stride=stride, padding=kernel_conv // 2, groups=self.head_dim,
            bias=False)
        # ResNetACmix's Kaiming init overwrites this, as official
        self.dep_conv.weight.data.copy_(
            shift_kernel(kernel_conv, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        c, hd, head = self.out_channels, self.head_dim, self.head
        pe = self.conv_p(position_grid(h, w, x.dtype, x.device))
        if records_grad(x, *self.parameters()):
            return _ProjectedACmix.apply(
                x, self.qkv.weight, self.qkv.bias, pe, self.rate1,
                self.fc.weight, self.dep_conv.weight * self.rate2, head,
                self.kernel_att, self.stride)
        qkv = self.qkv(x)
        out_att = sliding_window_attention(
            *qkv.view(b, 3, head, hd, h, w).unbind(1), pe, self.kernel_att,
            self.stride, hd**-0.5, self.rate1)
        # conv path: fc mixes the 3 x head maps [q heads, k heads, v heads]
        # of every head dim
        out_conv = acmix_conv_path(
            qkv.view(b, 3 * head, hd, h, w), self.fc.weight, None,
            self.dep_conv.weight * self.rate2, self.stride)
        return out_att.view(b, c, *out_att.shape[-2:]) + out_conv

    def extra_repr(self) -> str:
        return (f'head={self.head}, kernel_att={self.kernel_att}, '
                f'kernel_conv={self.kernel_conv}, stride={self.stride}')


class ACmixBottleneck(nn.Module):
    """ResNet v1.5 bottleneck whose 3x3 conv is an :class:`ACmix`.

    Args:
        in_channels (int): Input channels.
        planes (int): Width of the block (output is ``4 * planes``).
        stride (int): Stride of the ACmix and the shortcut. Defaults to 1.
        kernel_att (int): Attention window. Defaults to 7.
        head (int): Attention heads. Defaults to 4.
        kernel_conv (int): Convolution-path kernel. Defaults to 3.
        norm_cfg (dict): Norm config. Defaults to ``dict(type='BN')``.
    """
    expansion = 4

    def __init__(self,
                 in_channels: int,
                 planes: int,
                 stride: int = 1,
                 kernel_att: int = 7,
                 head: int = 4,
                 kernel_conv: int = 3,
                 norm_cfg: Dict = dict(type='BN')) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = build_norm_layer(norm_cfg, planes)[1]
        self.conv2 = ACmix(planes, planes, kernel_att, head, kernel_conv,
                           stride)
        self.bn2 = build_norm_layer(norm_cfg, planes)[1]
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, out_channels)[1]
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                build_norm_layer(norm_cfg, out_channels)[1])

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


@MODELS.register_module()
class ResNetACmix(BaseBackbone):
    """ResNet-ACmix backbone (ResNet v1.5 with ACmix in every bottleneck).

    A 7x7/2 conv + BN + ReLU + 3x3/2 max-pool stem and 4 stages of
    :class:`ACmixBottleneck` (stride 2 in the first block of stages 1-3);
    outputs at strides 4, 8, 16, 32 with 4, 8, 16, 32 x ``base_channels``
    channels. Official keys (``conv1``, ``bn1``, ``layer{1-4}``, ``fc``) load
    through :meth:`convert_official`.

    Args:
        arch (str | dict): '26', '38' or '50' (depths [1, 2, 4, 1],
            [2, 3, 5, 2], [3, 4, 6, 3]) or a dict with ``depths`` and
            optionally ``base_channels``. Defaults to '50'.
        kernel_att (int): ACmix attention window. Defaults to 7.
        head (int): ACmix attention heads. Defaults to 4.
        kernel_conv (int): ACmix convolution kernel. Defaults to 3.
        norm_cfg (dict): Norm config ('BN', 'SyncBN' or 'GN'), with
            ``requires_grad``. Defaults to ``dict(type='BN',
            requires_grad=True)``.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``init_cfg`` and ``pretrained`` of
            :class:`BaseBackbone`.
    """
    #: The official classifier is ``fc``.
    official_head = 'fc.'
    arch_zoo = {
        '26': dict(depths=[1, 2, 4, 1], base_channels=64),
        '38': dict(depths=[2, 3, 5, 2], base_channels=64),
        '50': dict(depths=[3, 4, 6, 3], base_channels=64),
    }
    essential_keys = frozenset({'depths'})
    #: The official ResNet loop: He-normal (fan-out) convs, unit norms. It
    #: also hits ``ACmix.dep_conv`` and so overwrites its shift kernel (the
    #: official ResNet-ACmix trains from this); conv biases keep PyTorch's
    #: init.
    default_init_cfg = [
        dict(type='mmhybrid.FanOutNormal', layer='Conv2d', bias=None),
        dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1.,
             bias=0.)
    ]

    def __init__(self,
                 arch: Union[str, Dict] = '50',
                 kernel_att: int = 7,
                 head: int = 4,
                 kernel_conv: int = 3,
                 norm_cfg: Dict = dict(type='BN', requires_grad=True),
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        depths = self.arch_settings['depths']
        base = self.arch_settings.get('base_channels', 64)
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(self.in_channels, base, 7, 2, 3, bias=False),
                bn=build_norm_layer(norm_cfg, base)[1],
                relu=nn.ReLU(inplace=True),
                pool=nn.MaxPool2d(3, 2, 1)))
        stride = 4  # conv and max-pool, stride 2 each
        self.stages = nn.ModuleList()
        channels = base
        for i, depth in enumerate(depths):
            planes = base * 2**i
            blocks = []
            for j in range(depth):
                block_stride = 2 if i > 0 and j == 0 else 1
                blocks.append(
                    ACmixBottleneck(channels, planes, block_stride,
                                    kernel_att, head, kernel_conv, norm_cfg))
                channels = planes * ACmixBottleneck.expansion
                stride *= block_stride
            self.stages.append(nn.Sequential(*blocks))
            self.feature_info.append(
                dict(num_chs=channels, reduction=stride, module=f'stages.{i}'))
        self._freeze_stages()

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        for block in self.stages[i]:
            x = self.run_block(block, x)
        return x, x

    def param_position(self, name: str) -> Tuple[Optional[int], int]:
        parts = name.split('.')
        if parts[0] == 'stem':
            return 0, -1
        if parts[0] == 'stages':
            return int(parts[1]), int(parts[2])
        return None, 0

    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Map official ResNet-ACmix keys (``ResNet/ResNet_ImageNet.py``) to
        this layout; pure and idempotent.

        ``conv1``/``bn1`` -> ``stem.conv``/``stem.bn``; ``layer{i}.{j}`` ->
        ``stages.{i-1}.{j}``; each ACmix's ``conv1``/``conv2``/``conv3``
        (q, k, v) are concatenated into ``qkv``; the classifier ``fc`` is
        dropped. Keys already in this layout pass through.
        """
        out: Dict[str, Tensor] = {}
        qkv: Dict[str, List[Optional[Tensor]]] = {}
        for key, value in state_dict.items():
            parts = key.split('.')
            if parts[0] == 'fc':
                continue
            if parts[0] in ('conv1', 'bn1'):
                key = 'stem.' + ('conv' if parts[0] == 'conv1' else 'bn') + \
                    key[len(parts[0]):]
            elif parts[0].startswith('layer') and parts[0][5:].isdigit():
                parts[0:1] = ['stages', str(int(parts[0][5:]) - 1)]
                if len(parts) == 6 and parts[3] == 'conv2' and \
                        parts[4] in ('conv1', 'conv2', 'conv3'):
                    new = '.'.join(parts[:4] + ['qkv', parts[5]])
                    qkv.setdefault(new, [None] * 3)[int(parts[4][-1]) - 1] \
                        = value
                    continue
                key = '.'.join(parts)
            out[key] = value
        for key, parts in qkv.items():
            if any(p is None for p in parts):
                raise KeyError(f'official ACmix q/k/v convs incomplete for '
                               f'{key}')
            out[key] = torch.cat(parts, 0)
        return out


# ------------------------------------------------------------ Swin-ACmix --


class WindowACmix(nn.Module):
    """ACmix in place of Swin's window attention (``WindowAttention_acmix``).

    ``qkv`` is computed on the whole (cyclically shifted) map; the attention
    path is Swin's W-MSA with relative position bias, the convolution path
    ``fc`` + ``dep_conv`` on the full shifted map; the outputs are mixed with
    ``rate1``/``rate2``, then ``proj_drop``.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        window_size (int): Window size. Defaults to 7.
        qkv_bias (bool): Bias of ``qkv``. Defaults to True.
        attn_drop (float): Dropout on the attention weights. Defaults to 0.
        proj_drop (float): Dropout on the mixed output. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dim = embed_dims // num_heads
        self.window_size = window_size
        self.scale = self.head_dim**-0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1)**2, num_heads))
        self.register_buffer(
            'relative_position_index', relative_position_index(window_size),
            persistent=False)
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.fc = nn.Conv2d(3 * num_heads, 9, 1)
        self.dep_conv = nn.Conv2d(
            9 * self.head_dim, embed_dims, 3, padding=1,
            groups=self.head_dim, bias=False)
        self.rate1 = nn.Parameter(torch.full((1, ), 0.5))
        self.rate2 = nn.Parameter(torch.full((1, ), 0.5))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=.02)
        # kept by Swin's init (it touches only Linear and LayerNorm)
        self.dep_conv.weight.data.copy_(shift_kernel(3, embed_dims))

    def forward(self, x: Tensor, shift: int,
                attn_mask: Optional[Tensor]) -> Tensor:
        """
        Args:
            x (Tensor): Normalised tokens ``(B, H, W, C)``, unshifted.
            shift (int): Cyclic shift of this block (0: none).
            attn_mask (Tensor, optional): ``(nW, N, N)`` mask of the padded,
                shifted map (shift regions and padding), or None.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        ws, nh, hd = self.window_size, self.num_heads, self.head_dim
        hp, wp = padded_size(h, ws), padded_size(w, ws)
        padded = traced() or (hp, wp) != (h, w)
        if padded:
            x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
        qkv = self.qkv(x)
        valid = None
        if padded:  # padded tokens are zeros, like dep_conv's padding
            valid = (torch.arange(hp, device=x.device) < h)[:, None] \
                & (torch.arange(wp, device=x.device) < w)
            if shift:
                valid = torch.roll(valid, (-shift, -shift), (0, 1))
        out_conv = acmix_conv_path(
            qkv.view(b, hp, wp, 3 * nh, hd).permute(0, 3, 4, 1, 2),
            self.fc.weight, self.fc.bias, self.dep_conv.weight * self.rate2,
            1, valid)
        # attention path: Swin W-MSA on the same (padded, shifted) map
        n = ws * ws
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(n, n, nh)
        out = window_msa(qkv, bias.permute(2, 0, 1), attn_mask, ws, nh,
                         self.scale, self.attn_drop)
        out = F.linear(out, self.proj.weight * self.rate1,
                       self.proj.bias * self.rate1)
        out = out + out_conv.permute(0, 2, 3, 1)
        if shift:
            out = torch.roll(out, (shift, shift), (1, 2))
        if padded:
            out = crop(crop(out, 1, h), 2, w)
        return self.proj_drop(out)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'window_size={self.window_size}')


class SwinACmixBlock(nn.Module):
    """Swin block with :class:`WindowACmix` (pre-norm, MLP ratio 4).

    Args:
        embed_dims (int): Channels.
        num_heads (int): Attention heads.
        window_size (int): Window size. Defaults to 7.
        shift (bool): Shifted-window block (shift ``window_size // 2``).
            Defaults to False.
        mlp_ratio (float): MLP hidden ratio. Defaults to 4.
        qkv_bias (bool): Bias of ``qkv``. Defaults to True.
        drop_rate (float): Dropout after the mixing and in the MLP.
            Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 shift: bool = False,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.) -> None:
        super().__init__()
        self.window_size = window_size
        self.shift_size = window_size // 2 if shift else 0
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = WindowACmix(embed_dims, num_heads, window_size, qkv_bias,
                                attn_drop_rate, drop_rate)
        self.drop_path = DropPath(drop_path_rate)
        self.norm2 = nn.LayerNorm(embed_dims)
        hidden = int(embed_dims * mlp_ratio)
        self.mlp = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(embed_dims, hidden),
                act=nn.GELU(),
                drop1=nn.Dropout(drop_rate),
                fc2=nn.Linear(hidden, embed_dims),
                drop2=nn.Dropout(drop_rate)))

    def forward(self, x: Tensor, shift: int,
                attn_mask: Optional[Tensor]) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), shift, attn_mask))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """4x4 patch embedding + LN; inputs are zero-padded to multiples of 4.

    Args:
        in_channels (int): Image channels.
        embed_dims (int): Output channels.
        patch_size (int): Patch size. Defaults to 4.
        patch_norm (bool): LayerNorm after the projection. Defaults to True.
    """

    def __init__(self, in_channels: int, embed_dims: int,
                 patch_size: int = 4, patch_norm: bool = True) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size,
                              patch_size)
        self.norm = nn.LayerNorm(embed_dims) if patch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        p = self.patch_size
        if traced() or h % p or w % p:
            x = F.pad(x, (0, padded_size(w, p) - w, 0, padded_size(h, p) - h))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


@MODELS.register_module()
class SwinACmix(SwinStagesMixin, BaseBackbone):
    """Swin-ACmix backbone: Swin Transformer with :class:`WindowACmix` in
    every block, for dense prediction (any input size, 4 outputs).

    Outputs at strides 4, 8, 16, 32, each through its own LayerNorm
    (``norm{i}``). Official classification keys (``patch_embed``,
    ``layers``, ``norm``, ``head``) load through :meth:`convert_official`.

    Args:
        arch (str | dict): 't'/'tiny' or 's'/'small', or a dict with
            ``embed_dims``, ``depths``, ``num_heads`` (and optionally
            ``drop_path_rate``). Defaults to 't'.
        window_size (int): Window size. Defaults to 7.
        mlp_ratio (float): MLP hidden ratio. Defaults to 4.
        qkv_bias (bool): Bias of ``qkv``. Defaults to True.
        drop_rate (float): Dropout rate. Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float, optional): Stochastic depth of the last block
            (linear from 0). Defaults to None: the arch's (0.2 for T, 0.3 for
            S, the official ImageNet settings).
        patch_norm (bool): LayerNorm after the patch embedding.
            Defaults to True.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``init_cfg`` and ``pretrained`` of
            :class:`BaseBackbone`.
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'],
                        dict(embed_dims=96, depths=[2, 2, 6, 2],
                             num_heads=[3, 6, 12, 24], drop_path_rate=0.2)),
        **dict.fromkeys(['s', 'small'],
                        dict(embed_dims=96, depths=[2, 2, 18, 2],
                             num_heads=[3, 6, 12, 24], drop_path_rate=0.3)),
    }
    essential_keys = frozenset({'embed_dims', 'depths', 'num_heads'})
    #: Swin's init: truncated normal Linear weights, zero biases, unit
    #: LayerNorms; convs (patch embedding, fc) keep PyTorch's init and
    #: ``dep_conv`` its shift kernel.
    default_init_cfg = [
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
    ]

    def __init__(self,
                 arch: Union[str, Dict] = 't',
                 window_size: int = 7,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: Optional[float] = None,
                 patch_norm: bool = True,
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        arch = self.arch_settings
        depths, num_heads = arch['depths'], arch['num_heads']
        self.window_size = window_size
        if drop_path_rate is None:
            drop_path_rate = arch.get('drop_path_rate', 0.1)
        dpr = torch.linspace(
            0, drop_path_rate, sum(depths), device='cpu').tolist()
        dims = [arch['embed_dims'] * 2**i for i in range(len(depths))]
        patch = 4
        self.stem = PatchEmbed(self.in_channels, dims[0], patch, patch_norm)
        self.stages = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            start = sum(depths[:i])
            blocks = [
                SwinACmixBlock(dims[i], heads, window_size, j % 2 == 1,
                               mlp_ratio, qkv_bias, drop_rate,
                               attn_drop_rate, dpr[start + j])
                for j in range(depth)
            ]
            # patch merging halves the map
            self.stages.append(
                Stage(PatchMerging(dims[i - 1]) if i else None, blocks))
            self.feature_info.append(dict(
                num_chs=dims[i], reduction=patch * 2**i, module=f'stages.{i}'))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(dims[i]))
        self._freeze_stages()

    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Map official Swin-ACmix keys (``swin_transformer_acmix.py``) to
        this layout; pure and idempotent.

        ``patch_embed`` -> ``stem``; ``layers.{i}.blocks`` ->
        ``stages.{i}.blocks``; ``layers.{i}.downsample`` (run after stage
        ``i``) -> ``stages.{i+1}.downsample``; the final ``norm`` (on the last
        stage's output) -> ``norm3``; ``mlp.fc1/fc2`` keep their names. The
        persistent buffers ``relative_position_index`` and ``attn_mask`` are
        dropped (computed here for any size) and so is ``head``. Official
        checkpoints have no ``dep_conv.bias`` (the official init deletes it),
        and neither has this model.
        """
        out: Dict[str, Tensor] = {}
        for key, value in state_dict.items():
            parts = key.split('.')
            if parts[0] == 'head' or parts[-1] in ('relative_position_index',
                                                   'attn_mask'):
                continue
            if parts[0] == 'patch_embed':
                key = 'stem' + key[len('patch_embed'):]
            elif parts[0] == 'layers':
                i = int(parts[1])
                if parts[2] == 'downsample':
                    parts[1] = str(i + 1)
                parts[0] = 'stages'
                key = '.'.join(parts)
            elif parts[0] == 'norm':
                key = 'norm3' + key[len('norm'):]
            out[key] = value
        return out

    def adapt_pretrained(self, key: str, value: Tensor,
                         target: Tensor) -> Optional[Tensor]:
        """Resize a relative position bias table to another window size
        (bicubic, as mmpretrain); None for anything else."""
        if not key.endswith('relative_position_bias_table'):
            return None
        return resize_relative_table(value, target)
