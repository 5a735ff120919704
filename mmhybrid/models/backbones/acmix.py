# Copyright (c) mmhybrid contributors. All rights reserved.
"""ACmix backbones for dense prediction: ResNet-ACmix and Swin-ACmix.

`On the Integration of Self-Attention and Convolution
<https://arxiv.org/abs/2111.14556>`_ (Pan et al., CVPR 2022).

Adapted from https://github.com/LeapLabTHU/ACmix (no licence file upstream),
commit ``81dddb6``; reimplemented from the official modules, not copied.

ACmix computes the 1x1 projections of self-attention once and reads them in
two ways: an attention path (local-window multi-head attention) and a
convolution path (a light fully connected layer ``fc`` that turns the
``3 x heads`` q/k/v maps of every head channel into ``k*k`` maps, followed by
``dep_conv``, a grouped ``k x k`` convolution initialised as the fixed
shifts of the paper's Fig. 3, i.e. "shift and sum" written as one group
conv). The two outputs are mixed with learnable scalars:
``rate1 * attention + rate2 * convolution``.

- :class:`ResNetACmix` replaces the 3x3 convolution of every ResNet (v1.5)
  bottleneck with :class:`ACmix`: 7x7 SASA-style windows with 4 heads and
  position encodings ``conv_p(grid)``, and a 3x3 shift conv; stride-2 blocks
  use a stride-2 ACmix, as official.
- :class:`SwinACmix` replaces the window attention of every Swin block with
  :class:`WindowACmix`; the convolution path runs on the cyclically shifted
  full map, as official.

Efficiency (same numbers as the official modules, up to float rounding):

- The ResNet attention path never materialises the ``kernel_att**2``-fold
  unfolded keys and values of the official code. :class:`_LocalAttention`
  loops over the 49 window offsets, reading shifted views of the padded
  keys/values, accumulating logits and weighted values in place, and has a
  hand-written backward that does the same; work is chunked so that a chunk
  stays in cache. Memory is O(49 x H x W) for the attention weights instead
  of O(49 x C x H x W) for the unfolded tensors.
- The term ``q . pe_q`` of the official logit ``q . (k_j + pe_q - pe_j)`` is
  the same for all 49 keys of a query, so softmax cancels it and it is not
  computed.
- The q/k/v projections are one 1x1 convolution ``qkv`` (the official
  ``conv1``/``conv2``/``conv3`` concatenated by :meth:`convert_official`),
  whose output already has the channel order the conv path's ``fc`` reads.

What happens at borders and on sizes the official code does not run on,
and why it stays faithful:

- ResNet attention pads keys, values and position encodings by reflection
  (``kernel_att // 2`` = 3 pixels), as the official ``ReflectionPad2d``.
  That layer needs every side to be longer than 3 pixels; here the
  reflection is continued (index ``i`` maps to its mirror image in
  ``[0, n - 1]``, repeatedly, period ``2 (n - 1)``; a 1-pixel side
  replicates), which is what ``ReflectionPad2d`` applied in steps of at most
  ``n - 1`` gives. It equals ``ReflectionPad2d`` whenever that is defined, so
  windows keep seeing mirrored copies of the map's own tokens, each with the
  position encoding of the token it copies, exactly the official border rule.
  The position grid is built in the input's dtype and device (official:
  float32, ``.cuda()``); its values are the same.
- Stride-2 ResNet ACmix takes the queries at even positions, as official, and
  returns ``ceil(n / 2)`` positions, the size its stride-2 ``dep_conv`` (and
  the stride-2 shortcut) produce. The official module returns ``n / 2`` on
  even sizes (identical) and crashes on odd ones.
- Swin pads each block's map on the right/bottom to window multiples, as
  mmdet's Swin does (and, as mmdet, zero-pads inputs to multiples of 4 and
  odd maps before patch merging). Unlike mmdet, padded tokens never
  contribute to real ones: they are masked out of the attention (the same
  -100 as the shift mask) and are zeros for the convolution path, i.e. the
  zero padding ``dep_conv`` applies at map borders anyway. Windows and shift
  regions are laid out on the padded map, as in mmdet. Maps that are window
  multiples (every stage of a 224 input) are not padded, and every block
  computes exactly the official function there.
- Swin blocks do not shift when ``min(H, W) <= window_size``, the official
  rule (e.g. the 7x7 last stage at 224). Official then also shrinks the
  window to ``min(H, W)``; here the window stays, so a map no larger than the
  window is one window over all its tokens (the same attention; relative
  position biases read from the window's own table, which a checkpoint has;
  official's shrunk table would not be). Official cannot run such sizes.
- The Swin convolution path runs on the shifted map, as official, so across
  the seam where the roll wraps around it mixes tokens from opposite borders
  (kept); along a padded axis the padding lies between them and they see
  zeros instead.

Initialisation follows the official code: the shift initialisation of
``dep_conv`` survives in Swin-ACmix, while in ResNet-ACmix the official
ResNet Kaiming loop overwrites it (kept here on purpose: that is how the
official ResNet-ACmix trains). ``dep_conv`` has no bias (the official
``reset_parameters`` deletes it) and ``rate1 = rate2 = 0.5``.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmhybrid.registry import MODELS
from ..layers.swin import (PatchMerging, SwinStagesMixin, crop,
                           padded_size, relative_position_index,
                           resize_relative_table, traced)
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


def _reflect_index(n: int, pad: int, device: torch.device) -> Tensor:
    """Indices of a reflection padding of ``pad`` on a side of length ``n``,
    continued past the border as often as needed (period ``2 (n - 1)``)."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


def reflect_pad2d(x: Tensor, pad: int) -> Tensor:
    """``ReflectionPad2d(pad)`` that also works on sides of ``pad`` pixels or
    fewer (see the module docstring); identical where the former is defined.

    Args:
        x (Tensor): Input of shape ``(..., H, W)``.
        pad (int): Padding on each side.

    Returns:
        Tensor: Shape ``(..., H + 2 pad, W + 2 pad)``.
    """
    h, w = x.shape[-2:]
    if pad == 0:
        return x
    if h > pad and w > pad and x.dim() in (3, 4):
        return F.pad(x, (pad, pad, pad, pad), mode='reflect')
    x = x.index_select(-2, _reflect_index(h, pad, x.device))
    return x.index_select(-1, _reflect_index(w, pad, x.device))


def position_grid(h: int, w: int, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    """The official ACmix position grid: channel 0 is ``linspace(-1, 1, W)``
    along the width, channel 1 ``linspace(-1, 1, H)`` along the height.

    Returns:
        Tensor: Shape ``(1, 2, h, w)``.
    """
    loc_w = torch.linspace(-1., 1., w, dtype=dtype, device=device)
    loc_h = torch.linspace(-1., 1., h, dtype=dtype, device=device)
    return torch.stack([loc_w.expand(h, w), loc_h[:, None].expand(h, w)])[None]


class _LocalAttention(torch.autograd.Function):
    """Local-window attention over pre-padded keys and values.

    ``out[n, :, y, x] = sum_j a_j v[n, :, s y + dy_j, s x + dx_j]`` with
    ``a = softmax_j(q[n, :, y, x] . kp[n, :, s y + dy_j, s x + dx_j])`` over
    the ``k * k`` offsets ``(dy_j, dx_j) = divmod(j, k)`` (row-major, as
    ``nn.Unfold``). Offsets are visited one at a time on strided views of
    ``kp``/``vp`` (nothing ``k*k``-fold is materialised); the batch is
    processed in chunks of about :attr:`CHUNK` query elements so that a chunk
    stays in cache.
    """

    #: query elements (d x h x w) per chunk
    CHUNK = 1 << 18

    @staticmethod
    def _view(t: Tensor, j: int, k: int, s: int, ho: int, wo: int) -> Tensor:
        dy, dx = divmod(j, k)
        return t[:, :, dy:dy + s * (ho - 1) + 1:s, dx:dx + s * (wo - 1) + 1:s]

    @staticmethod
    def forward(ctx, q: Tensor, kp: Tensor, vp: Tensor, kernel_size: int,
                stride: int) -> Tensor:
        n, d, ho, wo = q.shape
        k, s, k2 = kernel_size, stride, kernel_size * kernel_size
        view = _LocalAttention._view
        per = max(1, _LocalAttention.CHUNK // (d * ho * wo))
        per = -(-n // -(-n // per))  # equal chunks
        attn = q.new_empty(n, k2, ho, wo)
        out = torch.zeros_like(q)
        for c in range(0, n, per):
            qc, kc, vc = q[c:c + per], kp[c:c + per], vp[c:c + per]
            ac, oc = attn[c:c + per], out[c:c + per]
            for j in range(k2):
                torch.sum(qc * view(kc, j, k, s, ho, wo), 1, out=ac[:, j])
            ac.copy_(torch.softmax(ac, 1))
            for j in range(k2):
                oc.addcmul_(ac[:, j:j + 1], view(vc, j, k, s, ho, wo))
        ctx.save_for_backward(q, kp, vp, attn)
        ctx.kernel_size, ctx.stride, ctx.per = k, s, per
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        q, kp, vp, attn = ctx.saved_tensors
        k, s, per = ctx.kernel_size, ctx.stride, ctx.per
        n, d, ho, wo = q.shape
        k2 = k * k
        view = _LocalAttention._view
        grad = grad.contiguous()
        gq, gk, gv = (torch.zeros_like(t) for t in (q, kp, vp))
        for c in range(0, n, per):
            sl = slice(c, c + per)
            qc, kc, vc, ac, gc = q[sl], kp[sl], vp[sl], attn[sl], grad[sl]
            gqc, gkc, gvc = gq[sl], gk[sl], gv[sl]
            ga = torch.empty_like(ac)
            for j in range(k2):
                torch.sum(gc * view(vc, j, k, s, ho, wo), 1, out=ga[:, j])
                view(gvc, j, k, s, ho, wo).addcmul_(ac[:, j:j + 1], gc)
            # softmax backward: dl = a * (da - sum_j a_j da_j)
            ga.sub_((ac * ga).sum(1, keepdim=True)).mul_(ac)
            for j in range(k2):
                gqc.addcmul_(ga[:, j:j + 1], view(kc, j, k, s, ho, wo))
                view(gkc, j, k, s, ho, wo).addcmul_(ga[:, j:j + 1], qc)
        return gq, gk, gv, None, None


def local_window_attention(q: Tensor, k: Tensor, v: Tensor, pe: Tensor,
                           kernel_size: int = 7, stride: int = 1) -> Tensor:
    """The attention path of the official ResNet ACmix, memory-light.

    Logits ``q . (k_j + pe_q - pe_j)`` over the ``kernel_size**2`` window of
    every query (keys, values and ``pe`` reflection-padded, see
    :func:`reflect_pad2d`), softmax over the window, weighted sum of values.

    Args:
        q (Tensor): Queries, already scaled, ``(N, d, H, W)``.
        k (Tensor): Keys, ``(N, d, H, W)``.
        v (Tensor): Values, ``(N, d, H, W)``.
        pe (Tensor): Position encodings, ``(1 or N, d, H, W)``.
        kernel_size (int): Odd window size. Defaults to 7.
        stride (int): Query stride. Defaults to 1.

    Returns:
        Tensor: ``(N, d, ceil(H / stride), ceil(W / stride))``.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    pad = kernel_size // 2
    # q . pe_q is the same for the whole window: softmax cancels it.
    kp = reflect_pad2d(k - pe, pad)
    vp = reflect_pad2d(v, pad)
    q = q[..., ::stride, ::stride].contiguous()
    return _LocalAttention.apply(q, kp.contiguous(), vp.contiguous(),
                                 kernel_size, stride)


# ----------------------------------------------------------- ResNet-ACmix --


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
        qkv = self.qkv(x)
        q, k, v = qkv.split(c, 1)
        pe = self.conv_p(position_grid(h, w, x.dtype, x.device))
        out_att = local_window_attention(
            (q * hd**-0.5).reshape(b * head, hd, h, w),
            k.reshape(b * head, hd, h, w), v.reshape(b * head, hd, h, w), pe,
            self.kernel_att, self.stride)
        out_att = out_att.view(b, c, *out_att.shape[-2:])
        # conv path: fc mixes the 3 x head maps [q heads, k heads, v heads]
        # of every head dim d into k*k maps, channel d * k*k + j; built
        # channels-last, where the grouped dep_conv is much faster on CPU
        k2 = self.kernel_conv**2
        f = qkv.reshape(b, 3 * head, hd, h * w).permute(0, 3, 2, 1)
        f = F.linear(f, self.fc.weight.view(k2, 3 * head))
        f = f.reshape(b, h, w, hd * k2).permute(0, 3, 1, 2)
        out_conv = self.dep_conv(f).contiguous()
        return self.rate1 * out_att + self.rate2 * out_conv

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
        # conv path input, channels-last: channel d * 9 + j
        f = qkv.view(b, hp, wp, 3 * nh, hd).transpose(-1, -2)
        f = F.linear(f, self.fc.weight.view(9, 3 * nh), self.fc.bias)
        f = f.reshape(b, hp, wp, 9 * hd)
        if padded:  # padded tokens are zeros, like dep_conv's padding
            valid = (torch.arange(hp, device=x.device) < h)[:, None, None] \
                & (torch.arange(wp, device=x.device) < w)[:, None]
            if shift:
                valid = torch.roll(valid, (-shift, -shift), (0, 1))
            f = f * valid
        out_conv = self.dep_conv(f.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

        # attention path: Swin W-MSA on the same (padded, shifted) map
        nw = (hp // ws) * (wp // ws)
        n = ws * ws
        # (B, hp/M, wp/M, 3, heads, d, M, M): unfold, see layers/swin.py
        qkv = qkv.view(b, hp, wp, 3, nh, hd).unfold(1, ws, ws)
        qkv = qkv.unfold(2, ws, ws).permute(3, 0, 1, 2, 4, 6, 7, 5)
        qkv = qkv.reshape(3, b * nw, nh, n, hd)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(n, n, nh)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if attn_mask is not None:
            attn = attn.view(b, nw, nh, n, n) + attn_mask.unsqueeze(1)
            attn = attn.view(b * nw, nh, n, n)
        attn = self.attn_drop(attn.softmax(-1))
        out = (attn @ v).transpose(1, 2).reshape(b * nw, n, c)
        out = self.proj(out)
        out = out.view(b, hp // ws, wp // ws, ws, ws, c).transpose(2, 3)
        out = out.reshape(b, hp, wp, c)

        out = self.rate1 * out + self.rate2 * out_conv
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
