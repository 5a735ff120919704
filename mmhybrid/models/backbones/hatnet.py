# Copyright (c) mmhybrid contributors. All rights reserved.
"""HAT-Net and TransCNN: CNNs with hierarchical multi-head self-attention.

`Vision Transformers with Hierarchical Attention
<https://arxiv.org/abs/2106.03180>`_ (Liu et al., MIR 2024; arXiv v1:
"Transformer in Convolutional Neural Networks"). Adapted from
https://github.com/yun-liu/TransCNN: ``HAT_Net.py`` at ``4b2e7bf`` (v2,
:class:`HATNet`) and ``TransCNN.py`` at ``0bd7463`` (v1, :class:`TransCNN`).

H-MHSA (:class:`HMHSA`) as the official code computes it: attention inside
``G x G`` grids of ``qkv(norm(x))``, ``y = grid_norm(x + local)``, then
every token of ``y`` attends to the ``r x r`` average-pooled map, and the
output is ``proj(global + y)`` (``G = 1``: global MHSA); ``attn_mode=
'paper'`` is the paper's multi-step formulation. Each block adds an
inverted-residual branch. The versions differ in the norm (GroupNorm(1) vs
BatchNorm), that branch (pre- vs post-norm) and the downsampling (a strided
conv vs the two-branch TDB).

Departures from the official code (the reasons: configs/hatnet/README.md):

- any input size (official: multiples of 224 / 128): grids padded with
  masked keys, ceil-mode pooling, norms that never see padding; where the
  official code runs nothing is padded and the outputs equal it;
- fused attention, and each SiLU of the inverted-residual branch is
  recomputed in the backward of the conv after it (:class:`SiLUConv2d`);
- HAT-Net's unused ``proj_norm`` is not built (the converter drops it).
"""
import re
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmengine.logging import print_log
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.autograd.function import once_differentiable

from mmhybrid.registry import MODELS
from ..layers.recompute import records_grad
from ..layers.swin import crop, padded_size, traced, window_valid_mask
from ..utils.checkpoint import extract_state_dict
from .base_backbone import ArchType, BaseBackbone, Stage

#: HAT-Net's norm: GroupNorm with one group (normalises C, H, W jointly).
GN1 = dict(type='GN', num_groups=1, eps=1e-6)


def _norm(cfg: Dict, channels: int) -> nn.Module:
    return build_norm_layer(cfg, channels)[1]


#: torch 2.14's CPU flash attention runs bfloat16 / float16 only on CPUs with
#: AVX-512 ("pack_vnni2 is only supported when avx512 is supported"); on
#: others, low-precision attention on CPU takes SDPA's math kernel
_CPU_LOW_PRECISION_FLASH = \
    'AVX512' in torch.backends.cpu.get_cpu_capability()


def fused_attention(q: Tensor, k: Tensor, v: Tensor, **kwargs) -> Tensor:
    """``F.scaled_dot_product_attention``, on any CPU in any dtype."""
    if q.device.type == 'cpu' and q.dtype in (torch.bfloat16, torch.float16) \
            and not _CPU_LOW_PRECISION_FLASH:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, **kwargs)
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


class _SiLUConv(torch.autograd.Function):
    """``conv(silu(x))`` with ``x = a`` or ``x = bn(a)``, saving ``a``
    only: the backward recomputes ``x`` (BatchNorm: its statistics and
    affine, as the forward) and the activation instead of keeping them.
    Without a norm the gradients are those of the plain ops, bit for bit."""

    @staticmethod
    def forward(ctx, a: Tensor, weight: Tensor, bias: Optional[Tensor],
                bn_weight: Optional[Tensor], bn_bias: Optional[Tensor],
                conv: nn.Conv2d, bn: Optional[nn.BatchNorm2d]) -> Tensor:
        x = a if bn is None else bn(a)  # bn updates its running stats
        out = F.conv2d(F.silu(x), weight, bias, conv.stride, conv.padding,
                       conv.dilation, conv.groups)
        stats = None
        if bn is not None:
            # what the norm normalised with: batch (recomputed) or running
            batch = bn.training or bn.running_mean is None
            stats = (batch, bn.eps, None if batch else
                     (bn.running_mean.clone(), bn.running_var.clone()))
        ctx.save_for_backward(a, weight, bn_weight, bn_bias)
        ctx.conv, ctx.stats = conv, stats
        ctx.bias = None if bias is None else (bias.shape, bias.dtype)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        a, weight, bn_weight, bn_bias = ctx.saved_tensors
        conv, stats, need = ctx.conv, ctx.stats, ctx.needs_input_grad
        x = a
        if stats is not None:
            batch, eps, running = stats
            running = running or (None, None)
            x, mean, invstd = torch.ops.aten.native_batch_norm(
                a, bn_weight, bn_bias, *running, batch, 0., eps)
        # under autocast the conv ran in the dtype of its output (= grad's)
        dtype = grad.dtype
        grad_s, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad, F.silu(x).to(dtype), weight.to(dtype),
            None if ctx.bias is None else list(ctx.bias[0]), conv.stride,
            conv.padding, conv.dilation, False, [0, 0], conv.groups,
            [need[0] or any(need[3:5]), need[1], need[2]])
        grad_a = grad_bn_w = grad_bn_b = None
        if grad_s is not None:
            grad_a = torch.ops.aten.silu_backward(grad_s.to(x.dtype), x)
            if stats is not None:
                grad_a, grad_bn_w, grad_bn_b = \
                    torch.ops.aten.native_batch_norm_backward(
                        grad_a, a, bn_weight, *running, mean, invstd, batch,
                        eps, [need[0], need[3], need[4]])
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        if grad_b is not None:
            grad_b = grad_b.to(ctx.bias[1])
        return grad_a, grad_w, grad_b, grad_bn_w, grad_bn_b, None, None


class SiLUConv2d(nn.Conv2d):
    """A ``Conv2d`` of ``SiLU(x)`` (then Dropout2d, if ``drop``).

    In training the activation is not stored: its input is (the SiLU's
    backward needs it), and the conv's backward recomputes it, so an
    inverted-residual block stores each hidden map once instead of twice.
    ``forward(x, norm)`` takes the BatchNorm before the activation (the
    post-norm block's, registered where the official keys put it) into the
    same recomputation: only the norm's input is stored.

    Args:
        *args: Those of :class:`torch.nn.Conv2d`.
        drop (float): Dropout2d between the activation and the conv
            (unfused while it is active). Defaults to 0.
        **kwargs: Those of :class:`torch.nn.Conv2d`.
    """

    def __init__(self, *args, drop: float = 0., **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drop = nn.Dropout2d(drop, inplace=True)

    def forward(self, x: Tensor, norm: Optional[nn.Module] = None) -> Tensor:
        # other norms (SyncBN, GN) are not recomputed, nor is dropout
        fused = (norm is None or type(norm) is nn.BatchNorm2d) and not (
            self.drop.p and self.training)
        bn_params = (None, None) if norm is None else (norm.weight,
                                                       norm.bias)
        if fused and records_grad(x, self.weight, self.bias, *bn_params):
            return _SiLUConv.apply(x, self.weight, self.bias, *bn_params,
                                   self, norm)
        if norm is not None:
            x = norm(x)
        return super().forward(self.drop(F.silu(x)))


def grid_attention(qkv: Tensor, num_heads: int, grid_size: int,
                   scale: float) -> Tensor:
    """Multi-head attention inside non-overlapping ``G x G`` grids.

    Maps are zero-padded on the right/bottom to multiples of ``G`` and padded
    keys are masked, so real outputs do not depend on the padding.

    Args:
        qkv (Tensor): Queries, keys and values stacked on the channels,
            ``(B, 3 * C, H, W)``, each ``C = heads * d`` head-major.
        num_heads (int): Heads.
        grid_size (int): ``G``.
        scale (float): Logit scale.

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    b, c3, h, w = qkv.shape
    nh, d, g = num_heads, c3 // (3 * num_heads), grid_size
    hp, wp = padded_size(h, g), padded_size(w, g)
    if traced() or (hp, wp) != (h, w):
        qkv = F.pad(qkv, (0, wp - w, 0, hp - h))
    gh, gw = hp // g, wp // g
    # (B, 3, heads, d, gh, gw, G, G) -> (3, B * heads, gh * gw, G * G, d);
    # unfold, not a view: see layers/swin.py; contiguous: fused attention
    # kernels need d at stride 1 (else SDPA falls back to its math kernel,
    # on CPU as on CUDA)
    qkv = qkv.view(b, 3, nh, d, hp, wp).unfold(4, g, g).unfold(5, g, g)
    qkv = qkv.permute(1, 0, 2, 4, 5, 6, 7, 3)
    q, k, v = qkv.reshape(3, b * nh, gh * gw, g * g, d).contiguous().unbind(0)
    mask = window_valid_mask((h, w), (hp, wp), g, q.device)
    if mask is not None:  # (1, windows, 1 query row, keys)
        mask = mask[None, :, None]
    out = fused_attention(q, k, v, attn_mask=mask, scale=scale)
    out = out.view(b, nh, gh, gw, g, g, d).permute(0, 1, 6, 2, 4, 3, 5)
    out = out.reshape(b, nh * d, hp, wp)
    return crop(crop(out, 2, h), 3, w)


def ceil_avg_pool(x: Tensor, r: int) -> Tensor:
    """``F.avg_pool2d(x, r, r, ceil_mode=True)``: a partial border cell is
    the mean of its real pixels. Traced, as an explicit sum over the
    zero-padded map divided by the real-pixel counts: the ceil-mode output
    size carries a condition the shape solver cannot decide for symbolic
    sizes."""
    if not traced():
        return F.avg_pool2d(x, r, r, ceil_mode=True)
    h, w = x.shape[-2:]
    hp, wp = padded_size(h, r), padded_size(w, r)
    # the sum as mean * r^2 (exact for powers of 2): ONNX AveragePool has
    # no divisor_override
    total = F.avg_pool2d(F.pad(x, (0, wp - w, 0, hp - h)), r, r) * (r * r)
    rows = (torch.arange(hp, device=x.device) < h).to(x.dtype)
    cols = (torch.arange(wp, device=x.device) < w).to(x.dtype)
    count = rows.unfold(0, r, r).sum(1)[:, None] * \
        cols.unfold(0, r, r).sum(1)
    return total / count


def ceil_max_pool(x: Tensor, r: int) -> Tensor:
    """``F.max_pool2d(x, r, r, ceil_mode=True)``; traced, over the map
    padded with ``-inf`` (see :func:`ceil_avg_pool`)."""
    if not traced():
        return F.max_pool2d(x, r, r, ceil_mode=True)
    h, w = x.shape[-2:]
    x = F.pad(x, (0, padded_size(w, r) - w, 0, padded_size(h, r) - h),
              value=float('-inf'))
    return F.max_pool2d(x, r, r)


def upsample_cells(x: Tensor, factor: int, size: Tuple[int, int]) -> Tensor:
    """Each cell of a ``ceil``-pooled map back onto its ``factor x factor``
    pixels (border cells onto their real pixels), cropped to ``size``."""
    x = x.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    return x[..., :size[0], :size[1]]


class HMHSA(nn.Module):
    """Hierarchical multi-head self-attention (H-MHSA) on NCHW maps.

    ``attn_mode='code'`` (the official code, both versions): grid attention
    ``G x G`` on ``qkv(norm(x))``, ``y = grid_norm(x + local)``, then
    full-resolution queries ``q(y)`` attend to ``kv(ds_norm(avgpool_r(y)))``;
    output ``proj(global + y)``. With ``grid_size=1``: global MHSA.

    ``attn_mode='paper'`` (the paper's Eqs., which no official file
    implements; no weights exist for it): step 0 is the same grid attention
    and ``y_0 = grid_norm(x + a_0)``; step ``i > 0`` pools the previous
    step's map by max + average pooling (kernel = stride = ``G``, ceil mode),
    ``z_i = ds_norm(maxpool(y) + avgpool(y))``, attends inside ``G x G``
    grids of ``z_i`` with the ``q`` / ``kv`` projections (shared by all
    steps > 0), ``a_i``, and ``y_i = z_i + a_i``; the last step is the
    first whose pooled map fits in one grid (so there is always one: a map
    that already fits pools to a single, global token). The output is
    ``proj(y_0 + sum_i upsample(a_i))``, each ``a_i`` copied back onto the
    pixels of its cell. Interpretation (the
    equations did not survive in our source): the projections of steps > 0
    are shared, ``ds_norm`` normalises every pooled map, and ``y_0``
    (not ``a_0``) enters the sum, as in the code; ``ds_ratio`` is unused.

    Args:
        dim (int): Channels.
        head_dim (int): Channels per head.
        grid_size (int): ``G``; 1 for global attention. Defaults to 1.
        ds_ratio (int): Pooling ratio ``r`` of the keys/values.
            Defaults to 1.
        drop (float): Dropout2d after ``proj``. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to GroupNorm(1, eps 1e-6).
        attn_mode (str): 'code' or 'paper'. Defaults to 'code'.
    """

    #: Queries per batch entry of the global step's fused attention on CPU.
    QUERY_CHUNK = 1024

    def __init__(self,
                 dim: int,
                 head_dim: int,
                 grid_size: int = 1,
                 ds_ratio: int = 1,
                 drop: float = 0.,
                 norm_cfg: Dict = GN1,
                 attn_mode: str = 'code') -> None:
        super().__init__()
        if dim % head_dim:
            raise ValueError(f'dim {dim} is not divisible by head_dim '
                             f'{head_dim}')
        if attn_mode not in ('code', 'paper'):
            raise ValueError(f"attn_mode must be 'code' or 'paper', got "
                             f'{attn_mode!r}')
        self.num_heads = dim // head_dim
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.grid_size = grid_size
        self.ds_ratio = ds_ratio
        self.attn_mode = attn_mode
        self.norm = _norm(norm_cfg, dim)
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.drop = nn.Dropout2d(drop, inplace=True)
        if grid_size > 1:
            self.grid_norm = _norm(norm_cfg, dim)
            self.ds_norm = _norm(norm_cfg, dim)
            self.q = nn.Conv2d(dim, dim, 1)
            self.kv = nn.Conv2d(dim, dim * 2, 1)

    def _heads(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, n * C, H, W) -> n maps of (B, heads, d, H, W)."""
        b, c, h, w = x.shape
        return x.view(b, -1, self.num_heads, self.head_dim, h, w).unbind(1)

    def _global(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """(B, heads, d, *) maps -> attention output (B, C, N_q)."""
        b, nh, d = q.shape[:3]
        q, k, v = (t.flatten(3).transpose(-2, -1) for t in (q, k, v))
        n = q.shape[2]
        # SDPA's CPU flash kernel (which stores no attention weights) runs
        # its backward in parallel over batch x heads only: a detection-size
        # map with one head would run on one core, 10x slower than the
        # plain matmuls. Queries are independent, so chunks of them are
        # folded into the batch, sharing the (small, pooled) keys/values
        # through stride-0 views (the kernel needs unit strides on the
        # last dim only; the views are what autograd saves, not copies).
        chunks = (n + self.QUERY_CHUNK - 1) // self.QUERY_CHUNK \
            if q.device.type == 'cpu' and not traced() else 1
        size = -(-n // chunks)
        if chunks * size > n:
            q = F.pad(q, (0, 0, 0, chunks * size - n))
        q, k, v = (t.contiguous().view(1, b * nh, t.shape[2], d)
                   for t in (q, k, v))
        if chunks > 1:  # (chunks, B * heads, size, d)
            q = q.view(b * nh, chunks, size, d).transpose(0, 1)
            k, v = (t.expand(chunks, -1, -1, -1) for t in (k, v))
        out = fused_attention(q, k, v, scale=self.scale)
        out = out.permute(1, 3, 0, 2).reshape(b, nh * d, chunks * size)
        return out[..., :n]

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x))
        if self.grid_size == 1:
            out = self._global(*self._heads(qkv)).view(b, c, h, w)
            return self.drop(self.proj(out))
        local = grid_attention(qkv, self.num_heads, self.grid_size,
                               self.scale)
        y = self.grid_norm(x + local)
        if self.attn_mode == 'paper':
            return self.drop(self.proj(y + self._paper_steps(y)))
        q = self.q(y)
        r = self.ds_ratio
        pooled = ceil_avg_pool(y, r) if r > 1 else y
        k, v = self._heads(self.kv(self.ds_norm(pooled)))
        out = self._global(*self._heads(q), k, v).view(b, c, h, w)
        return self.drop(self.proj(out + y))

    def _paper_steps(self, y: Tensor) -> Tensor:
        """Steps > 0 of the paper's H-MHSA: the sum of their attention
        outputs, upsampled to the resolution of ``y``."""
        g = self.grid_size
        steps = []
        while True:
            z = F.max_pool2d(y, g, g, ceil_mode=True) + \
                F.avg_pool2d(y, g, g, ceil_mode=True)
            z = self.ds_norm(z)
            qkv = torch.cat([self.q(z), self.kv(z)], 1)
            a = grid_attention(qkv, self.num_heads, g, self.scale)
            steps.append((a, y.shape[-2:]))
            if max(z.shape[-2:]) <= g:  # this step attended the whole map
                break
            y = z + a
        acc = None
        for a, size in reversed(steps):  # coarse to fine
            acc = a if acc is None else a + acc
            acc = upsample_cells(acc, g, size)
        return acc

    def extra_repr(self) -> str:
        return (f'heads={self.num_heads}, grid_size={self.grid_size}, '
                f'ds_ratio={self.ds_ratio}, attn_mode={self.attn_mode}')


class InvertedResidual(nn.Module):
    """The inverted-residual (IRB) branch of a block (no inner shortcut).

    ``post_norm=False`` (HAT-Net): norm -> 1x1 -> SiLU -> depthwise kxk ->
    SiLU -> 1x1 -> norm. ``post_norm=True`` (TransCNN): 1x1 -> norm -> SiLU
    -> depthwise -> norm -> SiLU -> 1x1 -> norm. Each SiLU belongs to the
    conv after it (:class:`SiLUConv2d`), which keeps the official keys
    (``conv{1,2,3}.{0,1}``).

    Args:
        dim (int): Input and output channels.
        hidden_dim (int): Expanded channels.
        kernel_size (int): Depthwise kernel. Defaults to 3.
        drop (float): Dropout2d rate. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to GroupNorm(1).
        post_norm (bool): TransCNN's layout. Defaults to False.
    """

    def __init__(self,
                 dim: int,
                 hidden_dim: int,
                 kernel_size: int = 3,
                 drop: float = 0.,
                 norm_cfg: Dict = GN1,
                 post_norm: bool = False) -> None:
        super().__init__()
        pw1 = nn.Conv2d(dim, hidden_dim, 1, bias=False)
        dw = SiLUConv2d(hidden_dim, hidden_dim, kernel_size,
                        padding=(kernel_size - 1) // 2, groups=hidden_dim,
                        bias=False)
        if post_norm:
            self.conv1 = nn.Sequential(pw1, _norm(norm_cfg, hidden_dim))
            self.conv2 = nn.Sequential(dw, _norm(norm_cfg, hidden_dim))
        else:
            self.conv1 = nn.Sequential(_norm(norm_cfg, dim), pw1)
            self.conv2 = nn.Sequential(dw)
        self.conv3 = nn.Sequential(
            SiLUConv2d(hidden_dim, dim, 1, bias=False, drop=drop),
            _norm(norm_cfg, dim))
        self.drop = nn.Dropout2d(drop, inplace=True)
        self.post_norm = post_norm

    def forward(self, x: Tensor) -> Tensor:
        # oneDNN runs these convs (whose backward is half of a training step)
        # 1.4-1.9x faster channels-last; the rest of the network stays NCHW,
        # so on CPU the block converts in and out
        cpu = x.device.type == 'cpu'
        if cpu:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.post_norm:
            # each norm goes with the activation and conv after it
            x = self.conv2[0](self.conv1[0](x), self.conv1[1])
            x = self.conv3[1](self.conv3[0](x, self.conv2[1]))
        else:
            x = self.conv3(self.conv2(self.conv1(x)))
        x = self.drop(x)
        return x.contiguous() if cpu else x


class HMHSABlock(nn.Module):
    """``x + drop_path(H-MHSA(x))``, then ``x + drop_path(IRB(x))``.

    Args:
        dim (int): Channels.
        head_dim (int): Channels per head.
        grid_size (int): Grid of the local step; 1 for global attention.
        ds_ratio (int): Pooling ratio of the global keys/values.
        expansion (int): IRB expansion.
        kernel_size (int): IRB depthwise kernel.
        drop (float): Dropout2d rate. Defaults to 0.
        drop_path (float): Stochastic depth. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to GroupNorm(1).
        post_norm (bool): TransCNN's IRB. Defaults to False.
        attn_mode (str): 'code' or 'paper'. Defaults to 'code'.
    """

    def __init__(self,
                 dim: int,
                 head_dim: int,
                 grid_size: int,
                 ds_ratio: int,
                 expansion: int,
                 kernel_size: int,
                 drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: Dict = GN1,
                 post_norm: bool = False,
                 attn_mode: str = 'code') -> None:
        super().__init__()
        self.attn = HMHSA(dim, head_dim, grid_size, ds_ratio, drop, norm_cfg,
                          attn_mode)
        self.conv = InvertedResidual(dim, dim * expansion, kernel_size, drop,
                                     norm_cfg, post_norm)
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.conv(x))


class ConvDownsample(nn.Module):
    """HAT-Net's downsampling: 3x3 stride-2 conv, then the norm."""

    def __init__(self, in_dim: int, out_dim: int,
                 norm_cfg: Dict = GN1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, 3, padding=1, stride=2)
        self.norm = _norm(norm_cfg, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


class TwoBranchDownsample(nn.Module):
    """TransCNN's TDB: ``SiLU(norm1(conv3x3_s2(x)) + norm2(conv1x1(
    maxpool2(x))))``; the max pool is in ceil mode (odd maps work)."""

    def __init__(self, in_dim: int, out_dim: int,
                 norm_cfg: Dict = dict(type='BN')) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_dim, out_dim, 3, padding=1, stride=2)
        self.residual = nn.Conv2d(in_dim, out_dim, 1)
        self.norm1 = _norm(norm_cfg, out_dim)
        self.norm2 = _norm(norm_cfg, out_dim)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        pooled = ceil_max_pool(x, 2)
        return self.act(
            self.norm1(self.conv(x)) + self.norm2(self.residual(pooled)))


class _HMHSANet(BaseBackbone):
    """The backbone shared by :class:`HATNet` and :class:`TransCNN`."""

    essential_keys = frozenset({'dims', 'head_dim', 'depths'})
    optional_keys = frozenset(
        {'expansions', 'grid_sizes', 'ds_ratios', 'kernel_sizes'})
    #: Defaults of the optional arch keys (set by subclasses).
    arch_defaults: Dict = {}
    #: TransCNN's layout (post-norm IRB, two-branch downsampling).
    post_norm = False
    #: The official classifier: ``Sequential(Dropout(0.2), Linear)``.
    official_head = 'classifier.1.'
    #: The official ``_init_weights``: trunc normal Conv2d / Linear, zero
    #: biases; norms keep PyTorch's 1 / 0.
    default_init_cfg = dict(
        type='TruncNormal', layer=['Conv2d', 'Linear'], std=.02, bias=0.)

    def __init__(self,
                 arch: ArchType,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: Dict = GN1,
                 out_norm_cfg: Optional[Dict] = None,
                 attn_mode: str = 'code',
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        arch = self.arch_settings
        dims, depths = list(arch['dims']), list(arch['depths'])
        per_stage = {k: list(arch[k]) for k in self.optional_keys}
        self.attn_mode = attn_mode
        # two 3x3 stride-2 convs
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, 16, 3, padding=1, stride=2),
            _norm(norm_cfg, 16), nn.SiLU(inplace=True),
            nn.Conv2d(16, dims[0], 3, padding=1, stride=2))
        stride = 4
        dpr = torch.linspace(0, drop_path_rate, sum(depths),
                             device='cpu').tolist()
        down = TwoBranchDownsample if self.post_norm else ConvDownsample
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            blocks = [
                HMHSABlock(
                    dims[i], arch['head_dim'], per_stage['grid_sizes'][i],
                    per_stage['ds_ratios'][i], per_stage['expansions'][i],
                    per_stage['kernel_sizes'][i], drop_rate, dpr[start + j],
                    norm_cfg, self.post_norm, attn_mode)
                for j in range(depth)
            ]
            if i:
                stride *= 2  # the downsampling halves the map
            self.stages.append(
                Stage(down(dims[i - 1], dims[i], norm_cfg) if i else None,
                      blocks))
            self.feature_info.append(
                dict(num_chs=dims[i], reduction=stride, module=f'stages.{i}'))
        if out_norm_cfg is not None:
            for i in self.out_indices:
                self.add_module(f'norm{i}', _norm(out_norm_cfg, dims[i]))
        self._freeze_stages()

    @classmethod
    def parse_arch(cls, arch: ArchType) -> Dict:
        return {**cls.arch_defaults, **super().parse_arch(arch)}

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        stage = self.stages[i]
        if i > 0:
            x = stage.downsample(x)
        for block in stage.blocks:
            x = self.run_block(block, x)
        norm = getattr(self, f'norm{i}', None)
        return x, (norm(x) if norm is not None else x)

    # ---------------------------------------------------- checkpoints ----
    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Map official keys to this layout; pure and idempotent.

        ``patch_embed.*`` -> ``stem.*``; ``blocks.{i}.{j}.*`` ->
        ``stages.{i}.blocks.{j}.*``; ``ds{k}.*`` (before stage ``k - 1``)
        -> ``stages.{k-1}.downsample.*``. The classifier is dropped, and so
        are HAT-Net's ``attn.proj_norm.*`` tensors, which the official
        forward never uses (logged with their number). Accepts ``model`` /
        ``state_dict`` wrapped checkpoints as well.
        """
        state_dict = extract_state_dict(state_dict)
        out: Dict[str, Tensor] = {}
        proj_norm = []
        for key, value in state_dict.items():
            if key.startswith(('classifier.', 'head.')):
                continue
            if '.attn.proj_norm.' in key:
                proj_norm.append(key)
                continue
            key = re.sub(r'^patch_embed\.', 'stem.', key)
            key = re.sub(r'^blocks\.(\d+)\.', r'stages.\1.blocks.', key)
            key = re.sub(r'^ds(\d+)\.',
                         lambda m: f'stages.{int(m.group(1)) - 1}.'
                         'downsample.', key)
            out[key] = value
        if proj_norm:
            print_log(
                f'{cls.__name__}: dropped {len(proj_norm)} attn.proj_norm '
                'tensors of the official checkpoint (defined but unused in '
                'the official forward; not part of this model)',
                logger='current')
        return out


@MODELS.register_module()
class HATNet(_HMHSANet):
    """HAT-Net (TransCNN v2), for classification features, detection and
    segmentation, at any input size.

    Stem (two 3x3 stride-2 convs, GroupNorm(1) and SiLU between them), then
    four stages of :class:`HMHSABlock` (H-MHSA + pre-norm SiLU IRB, all norms
    GroupNorm(1, eps 1e-6)); a 3x3 stride-2 conv + GroupNorm starts stages
    2-4. Outputs are the stages' residual streams at strides 4-32 (channels
    T ``[48, 96, 240, 384]``, S/M ``[64, 128, 320, 512]``, L
    ``[64, 128, 320, 640]``), optionally through new output norms.

    Args:
        arch (str | dict): 't'/'tiny', 's'/'small', 'm'/'medium',
            'l'/'large', or a dict with ``dims``, ``head_dim``, ``depths``
            and optionally ``expansions``, ``grid_sizes``, ``ds_ratios``,
            ``kernel_sizes`` (defaults: those of 's'); ``base='s'`` updates
            a variant. Defaults to 's'.
        drop_rate (float): Dropout2d in attention and IRB. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block (linear
            from 0). Defaults to 0.
        out_norm_cfg (dict, optional): Norm of every returned stage output
            (``norm{i}``, new parameters, not in the official weights), e.g.
            ``dict(type='GN', num_groups=1, eps=1e-6)``. Defaults to None.
        attn_mode (str): 'code' (the official H-MHSA, needed by the released
            weights) or 'paper' (see :class:`HMHSA`). Defaults to 'code'.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``init_cfg``, ``pretrained`` of
            :class:`BaseBackbone`.

    Example:
        >>> import torch
        >>> from mmhybrid.models import HATNet
        >>> model = HATNet(arch=dict(dims=[8, 16, 32, 48], head_dim=8,
        ...                          depths=[1, 1, 1, 1])).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 8, 25, 33), (1, 16, 13, 17), (1, 32, 7, 9), (1, 48, 4, 5)]
    """
    #: Per-stage settings every variant shares unless it overrides them
    #: (merged in by ``parse_arch``).
    arch_defaults = dict(expansions=[8, 8, 4, 4], grid_sizes=[8, 7, 7, 1],
                         ds_ratios=[8, 4, 2, 1], kernel_sizes=[3, 3, 3, 3])
    # yapf: disable
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            dims=[48, 96, 240, 384], head_dim=48, depths=[2, 2, 6, 3])),
        **dict.fromkeys(['s', 'small'], dict(
            dims=[64, 128, 320, 512], head_dim=64, depths=[2, 3, 8, 3])),
        **dict.fromkeys(['m', 'medium'], dict(
            dims=[64, 128, 320, 512], head_dim=64, depths=[3, 6, 18, 3],
            kernel_sizes=[5, 3, 5, 3])),
        **dict.fromkeys(['l', 'large'], dict(
            dims=[64, 128, 320, 640], head_dim=64, depths=[3, 8, 27, 3])),
    }
    # yapf: enable

    def __init__(self, arch: ArchType = 's', **kwargs) -> None:
        if 'norm_cfg' in kwargs:
            raise TypeError('HATNet always uses GroupNorm(1); norm_cfg is a '
                            'TransCNN argument')
        super().__init__(arch, norm_cfg=GN1, **kwargs)


@MODELS.register_module()
class TransCNN(_HMHSANet):
    """TransCNN (v1 of HAT-Net), for detection and segmentation at any
    input size.

    Like :class:`HATNet` with BatchNorm everywhere, a post-norm IRB
    (conv -> BN -> SiLU), depthwise kernels [5, 3, 5, 3] and the two-branch
    downsampling (TDB) between stages. Channels T/S ``[64, 128, 256, 512]``,
    M ``[64, 128, 320, 640]``, L ``[64, 128, 384, 768]``. For detection keep
    the BN statistics frozen (``norm_eval=True``) or use SyncBN
    (``norm_cfg=dict(type='SyncBN')``).

    Args:
        arch (str | dict): 't'/'tiny', 's'/'small', 'm'/'medium',
            'l'/'large', or a dict (see :class:`HATNet`; defaults of the
            optional keys: those of 's'). Defaults to 's'.
        norm_cfg (dict): Norm of the whole network. Defaults to
            ``dict(type='BN')``.
        **kwargs: As :class:`HATNet`.
    """
    arch_defaults = dict(expansions=[4, 4, 6, 6], grid_sizes=[8, 8, 8, 1],
                         ds_ratios=[8, 4, 2, 1], kernel_sizes=[5, 3, 5, 3])
    # yapf: disable
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(
            dims=[64, 128, 256, 512], head_dim=64, depths=[2, 2, 4, 2],
            expansions=[4, 4, 4, 4])),
        **dict.fromkeys(['s', 'small'], dict(
            dims=[64, 128, 256, 512], head_dim=64, depths=[3, 4, 8, 3])),
        **dict.fromkeys(['m', 'medium'], dict(
            dims=[64, 128, 320, 640], head_dim=64, depths=[3, 4, 12, 3])),
        **dict.fromkeys(['l', 'large'], dict(
            dims=[64, 128, 384, 768], head_dim=64, depths=[3, 4, 16, 3])),
    }
    # yapf: enable
    post_norm = True

    def __init__(self, arch: ArchType = 's',
                 norm_cfg: Dict = dict(type='BN'), **kwargs) -> None:
        super().__init__(arch, norm_cfg=norm_cfg, **kwargs)
