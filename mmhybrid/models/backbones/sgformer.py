# Copyright (c) mmhybrid contributors. All rights reserved.
"""SG-Former, the self-guided transformer, as a dense-prediction backbone.

`SG-Former: Self-guided Transformer with Evolving Token Reallocation
<https://arxiv.org/abs/2308.12216>`_ (Ren et al., ICCV 2023); reimplemented
from https://github.com/OliverRensu/SG-Former (``b982803``), not copied.

Stages 1-3 alternate hybrid-scale (HS) and self-guided (SG) blocks; stage 4
is plain global attention. An HS block splits its heads: half attend
globally to ``sr x sr``-pooled keys, half inside 7x7 windows; the attention
every token receives in both halves is summed into a (detached)
significance map. The next SG block sorts the tokens by it and aggregates
runs of them with learned ``Linear(f, 1)`` layers (long runs for the least
significant tokens, short ones for the most significant), so salient
regions keep fine keys and values while every query attends globally.

Departures from the official code (configs/sgformer/README.md has why):
any input size (``pos_embed`` resized bicubic; windows padded bottom/right
with padding masked; a last, shorter SG run zero-filled), equal to the
official model wherever that runs; ``pos_embed`` lives in the stem as
``patch_embed1.pos_embed``; global attentions are fused
(``scaled_dot_product_attention``) and the HS global significance comes
from a separate no-grad pass, except below :data:`EXPLICIT_GLOBAL_MAX`.
"""
import math
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple)

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmhybrid.registry import MODELS
from ..layers.recompute import autocast_like, autocast_state, records_grad
from ..layers.swin import crop, padded_size, traced, window_valid_mask
from ..utils.checkpoint import extract_state_dict
from .base_backbone import ArchType, BaseBackbone

#: Where the official ImageNet checkpoints are released (a Google Drive
#: folder linked from the README; no per-file URLs).
OFFICIAL_WEIGHTS = 'https://github.com/OliverRensu/SG-Former#readme'
#: Side of the HS local windows (hard-coded in the official code).
WINDOW_SIZE = 7
#: Run lengths aggregated into one key/value token by the SG ``f1/f2/f3``
#: layers, per spatial-reduction ratio (official ``Attention.__init__``).
SG_RUNS = {8: (196, 56, 28), 4: (49, 14, 7), 2: (2, 1)}
#: The significance map of the HS global half is computed (without grad) in
#: one piece, the official ops and reduction order, bit-exact, up to this
#: many attention weights (batch x heads x queries x keys; 512 MiB fp32,
#: freed at once), in query chunks above. Chunks sum in another order, and
#: the significance ranking is sensitive to the last bit: on near-ties an
#: SG block may then order two tokens differently from the official code.
SIGNIFICANCE_CHUNK = 1 << 27
#: Up to this many HS global attention weights (batch x heads x queries x
#: keys; 16 MiB fp32: a 224 batch of up to 26, one 512x512 image) the global
#: half is one explicit softmax whose weights also give the significance map
#: (faster than fused attention plus a second no-grad pass); above, fused
#: attention keeps no weights for backward.
EXPLICIT_GLOBAL_MAX = 1 << 22


def _variant(dims: Sequence[int], heads: Sequence[int],
             depths: Sequence[int]) -> Dict:
    return dict(embed_dims=list(dims), num_heads=list(heads),
                depths=list(depths))


def sincos_pos_embed(dim: int, grid: int) -> Tensor:
    """The official 2-D sin-cos table (MAE layout: the first half of the
    channels encodes the column, the second the row), shape (1, g*g, dim)."""
    omega = 1. / 10000**(torch.arange(dim // 4, dtype=torch.float64) /
                         (dim / 4.))
    pos = torch.arange(grid, dtype=torch.float64)
    col = pos.repeat(grid)[:, None] * omega  # token h*g + w -> w
    row = pos.repeat_interleave(grid)[:, None] * omega
    table = torch.cat([col.sin(), col.cos(), row.sin(), row.cos()], dim=1)
    return table.float()[None]


def resize_pos_embed(pos: Tensor, src: Tuple[int, int],
                     dst: Tuple[int, int]) -> Tensor:
    """mmpretrain's ``resize_pos_embed`` (bicubic, no extra tokens), in at
    least float32 but never below the table's dtype (mmpretrain always
    interpolates in float32, which would round a float64 model's table)."""
    if tuple(src) == tuple(dst):
        return pos
    dtype = torch.promote_types(pos.dtype, torch.float32)
    table = pos.reshape(1, *src, -1).permute(0, 3, 1, 2).to(dtype)
    table = F.interpolate(table, size=dst, mode='bicubic',
                          align_corners=False)
    return table.flatten(2).transpose(1, 2).to(pos.dtype)


def _to_nchw(x: Tensor, hw: Tuple[int, int]) -> Tensor:
    """Tokens (B, H*W, C) -> (B, C, H, W) view in channels-last memory, the
    layout the official convs receive. (A permute of the (B, H, W, C)
    view: a transpose of the tokens would, at batch 1, leave the batch
    dimension a stride that torch's CPU convolutions do not read as
    channels-last; they would run NCHW on a strided copy, 18% of
    SG-Former-S's training step at 1x3x400x608.)"""
    return x.view(x.shape[0], *hw, x.shape[2]).permute(0, 3, 1, 2)


def _recompute(ctx, grad: Tensor, needs: Sequence[bool]
               ) -> Tuple[Tensor, List[Optional[Tensor]]]:
    """Run ``ctx.fn`` again on the saved input, with grad and in the
    forward's autocast state; return its output and the gradients of
    ``grad`` (w.r.t. that output) for the input and ``ctx.params``, None
    where ``needs`` says not needed."""
    x, = ctx.saved_tensors
    with torch.enable_grad(), autocast_like(ctx.autocast):
        x = x.detach().requires_grad_(needs[0])
        y = ctx.fn(x)
    wanted = [t for t, n in zip((x, *ctx.params), needs) if n]
    grads = iter(torch.autograd.grad(y, wanted, grad.to(y.dtype))
                 if wanted else ())
    return y, [next(grads) if n else None for n in needs]


class _Recomputed(torch.autograd.Function):
    """``fn(x)`` keeping only ``x`` for backward, where ``fn`` (cheap, no
    matmul) runs again; ``params`` are the parameters ``fn`` uses. The
    forward runs ``fn`` itself, so the output is the plain path's."""

    @staticmethod
    def forward(ctx, fn: Callable, x: Tensor, *params: Tensor) -> Tensor:
        ctx.fn, ctx.params = fn, params
        ctx.autocast = autocast_state(x.device.type)
        ctx.save_for_backward(x)
        return fn(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        return None, *_recompute(ctx, grad, ctx.needs_input_grad[1:])[1]


class _RecomputedLinearInput(_Recomputed):
    """``linear(fn(x))`` keeping only ``x`` for backward: ``fn`` runs again
    there, the linear layer (last of ``params``: weight, bias) does not."""

    @staticmethod
    def forward(ctx, fn: Callable, x: Tensor, *params: Tensor) -> Tensor:
        *fn_params, weight, bias = params
        out = _Recomputed.forward(ctx, fn, x, *fn_params)
        ctx.params, ctx.linear = fn_params, (weight, bias)
        return F.linear(out, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        weight, bias = ctx.linear
        *needs, need_w, need_b = ctx.needs_input_grad[1:]
        # the linear layer's backward in its compute dtype (that of
        # ``grad``), as autograd does it under autocast
        y, grads = _recompute(ctx, grad @ weight.to(grad.dtype), needs)
        grad2 = grad.flatten(0, -2)
        grad_w = grad_b = None
        if need_w:
            y2 = y.detach().to(grad.dtype).flatten(0, -2)
            grad_w = (grad2.t() @ y2).to(weight.dtype)
        if need_b:
            grad_b = grad2.sum(0).to(bias.dtype)
        return None, *grads, grad_w, grad_b


def _recomputed_linear(fn: Callable, x: Tensor, fn_params: Iterable[Tensor],
                       linear: nn.Linear) -> Tensor:
    """``linear(fn(x))``; while training, only ``x`` is kept for backward
    and ``fn`` (cheap, no matmul) runs again there, not ``linear``."""
    params = (*fn_params, linear.weight, linear.bias)
    if records_grad(x, *params):
        return _RecomputedLinearInput.apply(fn, x, *params)
    return linear(fn(x))


def _norm_act(norm: nn.Module, act: nn.Module, x: Tensor) -> Tensor:
    """``act(norm(x))``; while training, recomputed in backward: only ``x``,
    which the conv before it produced, is kept, not the norm's output."""
    params = tuple(norm.parameters())
    if records_grad(x, *params):
        return _Recomputed.apply(lambda t: act(norm(t)), x, *params)
    return act(norm(x))


class ConvGN(nn.Sequential):
    """Conv (no bias) + GroupNorm(1): the official ``Conv2d_BN``.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size. Defaults to 1.
        stride (int): Stride. Defaults to 1.
        padding (int): Padding. Defaults to 0.
        groups (int): Conv groups. Defaults to 1.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 1, stride: int = 1, padding: int = 0,
                 groups: int = 1) -> None:
        super().__init__()
        self.c = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                           padding, groups=groups, bias=False)
        self.bn = nn.GroupNorm(1, out_channels)


class SGFormerStem(nn.Module):
    """The official ``Head`` (three GN convs, stride 4, LayerNorm) plus the
    stage-1 position embedding, resized to the stage-1 grid.

    Args:
        in_channels (int): Input channels.
        embed_dim (int): Output channels.
        pos_grid (int): Side of the stored ``pos_embed`` table (56 for the
            official 224 pretraining).
    """

    def __init__(self, in_channels: int, embed_dim: int,
                 pos_grid: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            ConvGN(in_channels, embed_dim, 3, 2, 1), nn.GELU(),
            ConvGN(embed_dim, embed_dim, 3, 1, 1), nn.GELU(),
            ConvGN(embed_dim, embed_dim, 3, 2, 1))
        self.norm = nn.LayerNorm(embed_dim)  # default eps 1e-5, as official
        self.pos_grid = pos_grid
        self.pos_embed = nn.Parameter(
            torch.zeros(1, pos_grid * pos_grid, embed_dim))
        self._pos_cache: Dict = {}

    def init_weights(self) -> None:
        """The official sin-cos table (called by mmengine after the
        backbone's init rules)."""
        with torch.no_grad():
            self.pos_embed.copy_(
                sincos_pos_embed(self.pos_embed.shape[-1], self.pos_grid))

    def resized_pos_embed(self, hw: Tuple[int, int]) -> Tensor:
        """``pos_embed`` resized to grid ``hw`` (cached without grad)."""
        pos = self.pos_embed
        if traced():
            # always resized (bicubic to the same size is the identity):
            # no comparison, no cache keyed on sizes
            g = self.pos_grid
            table = pos.reshape(1, g, g, -1).permute(0, 3, 1, 2)
            # in the dtype of resize_pos_embed (float64 stays float64)
            table = F.interpolate(
                table.to(torch.promote_types(pos.dtype, torch.float32)),
                size=hw, mode='bicubic', align_corners=False)
            return table.flatten(2).transpose(1, 2).to(pos.dtype)
        if torch.is_grad_enabled() and pos.requires_grad:
            self._pos_cache.clear()
            return resize_pos_embed(pos, (self.pos_grid, ) * 2, hw)
        key = (hw, pos.device, pos.dtype, pos.data_ptr(), pos._version)
        if key not in self._pos_cache:
            self._pos_cache.clear()
            self._pos_cache[key] = resize_pos_embed(
                pos.detach(), (self.pos_grid, ) * 2, hw)
        return self._pos_cache[key]

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C, H/4, W/4), in channels-last memory: a
        view of the normalised tokens, which the stage reads back without
        a copy."""
        conv = self.conv
        x = _norm_act(conv[0].bn, conv[1], conv[0].c(x))
        x = conv[4](_norm_act(conv[2].bn, conv[3], conv[2].c(x)))
        hw = tuple(x.shape[2:])
        x = self.norm(x.flatten(2).transpose(1, 2))
        return _to_nchw(x + self.resized_pos_embed(hw), hw)


class ConvPatchMerging(nn.Module):
    """The official ``PatchMerging``: 1x1 GN conv, depthwise 3x3 stride-2 GN
    conv, 1x1 GN conv (GELU between), NCHW in and out.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.act = nn.GELU()
        self.conv1 = ConvGN(in_channels, out_channels)
        self.conv2 = ConvGN(out_channels, out_channels, 3, 2, 1,
                            groups=out_channels)
        self.conv3 = ConvGN(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = _norm_act(self.conv1.bn, self.act, self.conv1.c(x))
        return self.conv3(_norm_act(self.conv2.bn, self.act, self.conv2.c(x)))


class DWConv(nn.Module):
    """Depthwise 3x3 conv on tokens (official ``DWConv``; keeps its name)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: Tensor, hw: Tuple[int, int]) -> Tensor:
        return self.dwconv(_to_nchw(x, hw)).flatten(2).transpose(1, 2)


class DWConvFFN(nn.Module):
    """The "local-enhanced" FFN: ``fc2(GELU(fc1(x) + dwconv(fc1(x))))``.

    While training, only ``fc1(x)`` is kept for backward: the depthwise
    conv, the sum and GELU are recomputed there, ``fc2`` is not.

    Args:
        dim (int): Channels.
        hidden_dim (int): Hidden channels.
    """

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.dwconv = DWConv(hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def hidden(self, h: Tensor, hw: Tuple[int, int]) -> Tensor:
        """``GELU(h + dwconv(h))``, the input of ``fc2``."""
        return self.act(h + self.dwconv(h, hw))

    def tail(self, h: Tensor, hw: Tuple[int, int]) -> Tensor:
        """``fc2(GELU(h + dwconv(h)))`` of ``h = fc1(x)``."""
        return _recomputed_linear(lambda t: self.hidden(t, hw), h,
                                  self.dwconv.parameters(), self.fc2)

    def forward(self, x: Tensor, hw: Tuple[int, int]) -> Tensor:
        return self.tail(self.fc1(x), hw)


def _window_grid(hw: Tuple[int, int], window: int) -> Tuple[int, int]:
    """The smallest grid of window multiples holding ``hw``."""
    return padded_size(hw[0], window), padded_size(hw[1], window)


def window_partition(x: Tensor, hw: Tuple[int, int],
                     padded_hw: Tuple[int, int], window: int) -> Tensor:
    """(B, H*W, heads, d) -> (B*heads*nW, window**2, d), zero-padding the
    map bottom/right to ``padded_hw`` (official window order)."""
    b, _, heads, d = x.shape
    (h, w), (hp, wp) = hw, padded_hw
    x = x.view(b, h, w, heads, d)
    if traced() or (hp, wp) != (h, w):
        x = F.pad(x, (0, 0, 0, 0, 0, wp - w, 0, hp - h))
    # (B, hp/M, wp/M, heads, d, M, M); unfold rather than a view, whose
    # divisibility check the shape solver cannot prove for symbolic sizes
    x = x.unfold(1, window, window).unfold(2, window, window)
    return x.permute(0, 3, 1, 2, 5, 6, 4).reshape(-1, window * window, d)


def window_reverse(x: Tensor, b: int, hw: Tuple[int, int],
                   padded_hw: Tuple[int, int], window: int) -> Tensor:
    """(B*heads*nW, window**2, d) -> (B, H*W, heads*d), cropping padding."""
    (h, w), (hp, wp) = hw, padded_hw
    x = x.view(b, -1, hp // window, wp // window, window, window, x.shape[-1])
    x = x.permute(0, 2, 4, 3, 5, 1, 6).reshape(b, hp, wp, -1)
    return crop(crop(x, 1, h), 2, w).reshape(b, h * w, -1)


def window_attention(q: Tensor, k: Tensor, v: Tensor,
                     hw: Tuple[int, int], scale: float,
                     window: int = WINDOW_SIZE,
                     padded_hw: Optional[Tuple[int, int]] = None
                     ) -> Tuple[Tensor, Tensor]:
    """Non-overlapping window attention with padding masked out.

    Args:
        q, k, v (Tensor): (B, H*W, heads, d).
        hw (tuple[int, int]): The real grid ``(H, W)``.
        scale (float): Logit scale.
        window (int): Window side. Defaults to 7.
        padded_hw (tuple[int, int], optional): Window multiples to pad to.
            Defaults to the smallest (any larger one gives the same result).

    Returns:
        tuple[Tensor, Tensor]: The output (B, H*W, heads*d) and the local
        significance (B, H, W): the attention every token receives, averaged
        over heads and over the real queries of its window (detached).
    """
    b, heads = q.shape[0], q.shape[2]
    h, w = hw
    hp, wp = padded_hw or _window_grid(hw, window)
    q, k, v = (window_partition(t, hw, (hp, wp), window) for t in (q, k, v))
    attn = (q @ k.transpose(-2, -1)) * scale
    valid = window_valid_mask(hw, (hp, wp), window, q.device)
    if valid is not None:
        n_win = valid.shape[0]
        attn = attn.view(-1, n_win, window**2, window**2).masked_fill(
            ~valid[:, None, :], float('-inf')).view_as(attn)
    attn = attn.softmax(dim=-1)
    out = window_reverse(attn @ v, b, hw, (hp, wp), window)

    with torch.no_grad():
        a = attn.detach().view(b, heads, -1, window**2, window**2).mean(1)
        if valid is None:
            sig = torch.mean(a, dim=2)
        else:
            vq = valid.to(a.dtype)
            sig = (a * vq[..., None]).sum(2) / vq.sum(1, keepdim=True)
        sig = sig.view(b, hp // window, wp // window, window, window)
        sig = sig.permute(0, 1, 3, 2, 4).reshape(b, hp, wp)
    return out, crop(crop(sig, 1, h), 2, w)


def received_attention(q: Tensor, k: Tensor, scale: float,
                       chunk: Optional[int] = None) -> Tensor:
    """Mean over heads and queries of ``softmax(q k^T * scale)``, (B, Nk):
    the attention every key receives, without grad.

    Up to ``chunk`` weights (default :data:`SIGNIFICANCE_CHUNK`) in one piece,
    with the official ops and reduction order (bit-exact); in query chunks
    above.
    """
    chunk = SIGNIFICANCE_CHUNK if chunk is None else chunk
    with torch.no_grad():
        b, heads, n = q.shape[:3]
        m = k.shape[2]
        kt = k.transpose(-2, -1)
        step = max(chunk // max(b * heads * m, 1), 1)
        if step >= n:
            return torch.mean(((q @ kt) * scale).softmax(-1).mean(1), dim=1)
        acc = torch.promote_types(q.dtype, torch.float32)
        total = q.new_zeros(b, m, dtype=acc)
        for s in range(0, n, step):
            p = ((q[:, :, s:s + step] @ kt) * scale).softmax(dim=-1)
            total += p.mean(1).sum(1, dtype=acc)
        return (total / n).to(q.dtype)


def nearest_resize(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """``F.interpolate(x[:, None], size, mode='nearest')[:, 0]`` for
    ``(B, h, w)`` maps. Traced, the same source indices are computed
    explicitly, with PyTorch's float32 formula (``floor(i * (h / H))``):
    ONNX Resize computes them from the inverse scale, which can round to
    the neighbouring row where ``i * h / H`` is an integer, and a shifted
    row would reorder the SG ranking."""
    if not traced():
        return F.interpolate(x[:, None], size, mode='nearest')[:, 0]
    for dim, n in ((1, size[0]), (2, size[1])):
        m = x.shape[dim]
        scale = (torch.ones((), device=x.device) * m) / n
        # (i < n, so the product stays below m: no clamp needed)
        idx = (torch.arange(n, device=x.device).float() * scale).floor()
        x = x.index_select(dim, idx.long())
    return x


class SGAttention(nn.Module):
    """SG-Former attention in one of three modes.

    - ``'hs'`` (hybrid-scale): half the heads attend to ``sr``-pooled keys
      (``sr``, ``norm``, ``q1``, ``kv1``), half inside 7x7 windows (``q2``,
      ``kv2``); returns the significance map of the tokens.
    - ``'sg'`` (self-guided): all heads (``q``) attend to tokens aggregated
      by significance (``f1``-``f3``) from the row-major (``kv1``, first
      half of the heads) and column-major (``kv2``) orders.
    - ``'full'``: plain global attention (``q``, ``kv``), stage 4.

    Every mode adds LePE (``lepe_conv(lepe_linear(x))``) before ``proj``.

    Args:
        dim (int): Channels.
        num_heads (int): Heads (even in 'hs'/'sg' modes).
        mode (str): 'hs', 'sg' or 'full'.
        sr_ratio (int): Spatial reduction ratio (8, 4 or 2 for 'hs'/'sg').
            Defaults to 1.
        qkv_bias (bool): Bias of the q/kv projections. Defaults to True.
    """

    def __init__(self, dim: int, num_heads: int, mode: str,
                 sr_ratio: int = 1, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.mode = mode
        self.sr_ratio = sr_ratio
        if mode == 'hs':
            self.sr = nn.Conv2d(dim, dim, sr_ratio, sr_ratio)
            self.norm = nn.LayerNorm(dim)  # default eps, as official
            self.act = nn.GELU()
            self.q1 = nn.Linear(dim, dim // 2, bias=qkv_bias)
            self.kv1 = nn.Linear(dim, dim, bias=qkv_bias)
            self.q2 = nn.Linear(dim, dim // 2, bias=qkv_bias)
            self.kv2 = nn.Linear(dim, dim, bias=qkv_bias)
        elif mode == 'sg':
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv1 = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv2 = nn.Linear(dim, dim, bias=qkv_bias)
            self.runs = SG_RUNS[sr_ratio]
            for i, f in enumerate(self.runs):
                self.add_module(f'f{i + 1}', nn.Linear(f, 1))
        elif mode == 'full':
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        else:
            raise ValueError(f"mode must be 'hs', 'sg' or 'full', got {mode}")
        self.lepe_linear = nn.Linear(dim, dim)
        self.lepe_conv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: Tensor, heads: int) -> Tensor:
        """(B, N, heads*d) -> (B, heads, N, d)."""
        return x.reshape(x.shape[0], x.shape[1], heads,
                         self.head_dim).permute(0, 2, 1, 3)

    def _kv(self, layer: nn.Linear, x: Tensor, heads: int
            ) -> Tuple[Tensor, Tensor]:
        kv = layer(x).reshape(x.shape[0], -1, 2, heads,
                              self.head_dim).permute(2, 0, 3, 1, 4)
        return kv[0], kv[1]

    def forward_hs(self, x: Tensor, hw: Tuple[int, int]
                   ) -> Tuple[Tensor, Tensor]:
        b, n, c = x.shape
        h, w = hw
        half = self.num_heads // 2
        sr = self.sr_ratio
        # global half: keys pooled by the sr x sr conv (floors, as official;
        # a side shorter than sr is zero-padded to one cell)
        q1 = self._heads(self.q1(x), half)
        x_ = _to_nchw(x, hw)
        if h < sr or w < sr:
            x_ = F.pad(x_, (0, max(sr - w, 0), 0, max(sr - h, 0)))
        pooled = self.sr(x_)
        hc, wc = pooled.shape[2:]
        pooled = self.act(self.norm(pooled.reshape(b, c, -1).permute(0, 2, 1)))
        k1, v1 = self._kv(self.kv1, pooled, half)
        if traced() or \
                q1.shape[0] * half * n * k1.shape[2] <= EXPLICIT_GLOBAL_MAX:
            # small: one explicit softmax serves the output and the map
            # (the official ops, bit-exact)
            attn = ((q1 @ k1.transpose(-2, -1)) * self.scale).softmax(-1)
            x1 = attn @ v1
            sig_g = torch.mean(attn.detach().mean(1), dim=1)
        else:
            x1 = F.scaled_dot_product_attention(q1, k1, v1, scale=self.scale)
            # the map from the same weights, without grad (detached in the
            # paper), so no weights are stored for backward
            sig_g = received_attention(q1, k1, self.scale)
        x1 = x1.transpose(1, 2).reshape(b, n, c // 2)
        sig_g = nearest_resize(sig_g.view(b, hc, wc), hw)
        # local half: 7x7 windows
        q2 = self.q2(x).view(b, n, half, self.head_dim)
        k2, v2 = self.kv2(x).view(b, n, 2, half, self.head_dim).unbind(2)
        x2, sig_l = window_attention(q2, k2, v2, hw, self.scale)
        return torch.cat([x1, x2], dim=-1), sig_l + sig_g

    def _aggregate(self, x: Tensor, order: Tensor) -> Tensor:
        """Gather ``x`` in ``order`` and aggregate the official segments in
        runs (a last, shorter run is zero-filled); (B, T, C)."""
        b, n, c = x.shape
        if self.sr_ratio == 2:
            bounds = [0, n // 2, n]
        else:
            bounds = [0, n // 4, n // 4 * 3, n]
        seq = []
        for i, f in enumerate(self.runs):
            length = bounds[i + 1] - bounds[i]
            if length == 0:
                continue
            idx = crop(order, 1, bounds[i + 1])
            if bounds[i]:
                idx = idx[:, bounds[i]:]
            p = torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, c))
            t = (length + f - 1) // f
            if traced() or t * f != length:
                p = F.pad(p, (0, 0, 0, t * f - length))
            layer = getattr(self, f'f{i + 1}')
            seq.append(layer(p.permute(0, 2, 1).reshape(b, c, t, f))
                       .squeeze(-1))
        return torch.cat(seq, dim=-1).permute(0, 2, 1)

    def forward_sg(self, x: Tensor, hw: Tuple[int, int],
                   significance: Tensor) -> Tensor:
        b, n, c = x.shape
        h, w = hw
        half = self.num_heads // 2
        q = self._heads(self.q(x), self.num_heads)
        # both sorts, as official: ties may break differently
        order1 = torch.sort(significance.reshape(b, n), dim=1)[1]
        order2 = torch.sort(significance.permute(0, 2, 1).reshape(b, n),
                            dim=1)[1]
        x_t = x.view(b, h, w, c).permute(0, 2, 1, 3).reshape(b, n, c)
        k1, v1 = self._kv(self.kv1, self._aggregate(x, order1), half)
        k2, v2 = self._kv(self.kv2, self._aggregate(x_t, order2), half)
        out = F.scaled_dot_product_attention(
            q, torch.cat([k1, k2], 1), torch.cat([v1, v2], 1),
            scale=self.scale)
        return out.transpose(1, 2).reshape(b, n, c)

    def forward_full(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q = self._heads(self.q(x), self.num_heads)
        k, v = self._kv(self.kv, x, self.num_heads)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return out.transpose(1, 2).reshape(b, n, c)

    def forward(self, x: Tensor, hw: Tuple[int, int],
                significance: Optional[Tensor] = None
                ) -> Tuple[Tensor, Optional[Tensor]]:
        """Return the output and, in 'hs' mode, the significance map
        (B, H, W) the next (SG) block needs."""
        lepe = self.lepe_conv(_to_nchw(self.lepe_linear(x), hw))
        lepe = lepe.view(x.shape[0], x.shape[2], -1).transpose(-1, -2)
        sig = None
        if self.mode == 'hs':
            x, sig = self.forward_hs(x, hw)
        elif self.mode == 'sg':
            if significance is None:
                raise RuntimeError('an SG block needs the significance map '
                                   'of the HS block before it')
            x = self.forward_sg(x, hw, significance)
        else:
            x = self.forward_full(x)
        return self.proj(x + lepe), sig


class SGFormerBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``.

    Args:
        dim (int): Channels.
        num_heads (int): Attention heads.
        mode (str): 'hs', 'sg' or 'full' (see :class:`SGAttention`).
        sr_ratio (int): Spatial reduction ratio. Defaults to 1.
        mlp_ratio (float): FFN expansion. Defaults to 4.
        qkv_bias (bool): Bias of q/kv. Defaults to True.
        drop_path (float): Stochastic depth rate. Defaults to 0.
    """

    def __init__(self, dim: int, num_heads: int, mode: str,
                 sr_ratio: int = 1, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, drop_path: float = 0.) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SGAttention(dim, num_heads, mode, sr_ratio, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = DWConvFFN(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0. \
            else nn.Identity()

    def forward(self, x: Tensor, hw: Tuple[int, int],
                significance: Optional[Tensor] = None
                ) -> Tuple[Tensor, Optional[Tensor]]:
        y, significance = self.attn(self.norm1(x), hw, significance)
        x = x + self.drop_path(y)
        # = mlp(norm2(x)); training keeps x, not norm2(x), for fc1's backward
        h = _recomputed_linear(self.norm2, x, self.norm2.parameters(),
                               self.mlp.fc1)
        x = x + self.drop_path(self.mlp.tail(h, hw))
        return x, significance


@MODELS.register_module()
class SGFormer(BaseBackbone):
    """SG-Former backbone for detection and segmentation.

    Stage ``i`` (1-based, official names) is ``patch_embed{i}`` (the stem
    for stage 1, a conv patch merging otherwise), ``block{i}`` and the
    LayerNorm ``norm{i}``, whose output is both the stage's feature map
    (strides 4, 8, 16, 32) and the next stage's input. Runs on any input
    size (configs/sgformer/README.md says what happens at borders).

    Args:
        arch (str | dict): ``'s'``/``'small'``, ``'m'``/``'medium'``,
            ``'b'``/``'base'``, or a dict with:

            - **embed_dims** (list[int]): Channels per stage.
            - **num_heads** (list[int]): Heads per stage (even in stages
              1-3, which split them into two halves).
            - **depths** (list[int]): Blocks per stage (even in stages 1-3:
              HS and SG blocks come in pairs).
            - **mlp_ratios** (list[float]): FFN expansion. Defaults to 4.
            - **sr_ratios** (list[int]): Must be ``[8, 4, 2, 1]`` (the run
              lengths of the SG layers are tied to them).

            A dict may update a variant with ``base``. Defaults to 's'.
        pretrain_img_size (int): Image size of the pretraining, which sets
            the stored ``pos_embed`` grid (``ceil(size / 4)``); checkpoints
            of another grid are resized on load. Defaults to 224.
        qkv_bias (bool): Bias of the q/kv projections. Defaults to True.
        drop_path_rate (float): Stochastic depth of the last block, linear
            from 0. Defaults to 0.1.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages`` (0:
            the stem with ``pos_embed``), ``norm_eval``, ``with_cp``,
            ``init_cfg`` (a ``Pretrained`` entry prefers the official
            ``state_dict_ema``; default: the official initialisation) and
            ``pretrained`` of :class:`BaseBackbone`.

    Example:
        >>> import torch
        >>> from mmhybrid.models import SGFormer
        >>> model = SGFormer(arch=dict(embed_dims=[8, 16, 32, 64],
        ...                            num_heads=[2, 2, 2, 2],
        ...                            depths=[2, 2, 2, 1])).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 100, 75))]
        [(1, 8, 25, 19), (1, 16, 13, 10), (1, 32, 7, 5), (1, 64, 4, 3)]
    """
    # yapf: disable
    arch_zoo = {
        **dict.fromkeys(['s', 'small'],
                        _variant([64, 128, 256, 512], [2, 4, 8, 16],
                                 [2, 4, 16, 1])),
        **dict.fromkeys(['m', 'medium'],
                        _variant([64, 128, 256, 512], [2, 4, 8, 16],
                                 [2, 6, 28, 2])),
        **dict.fromkeys(['b', 'base'],
                        _variant([96, 192, 384, 768], [4, 6, 12, 24],
                                 [4, 6, 24, 2])),
    }
    # yapf: enable
    essential_keys = frozenset({'embed_dims', 'num_heads', 'depths'})
    optional_keys = frozenset({'mlp_ratios', 'sr_ratios'})
    #: The official ``_init_weights``: truncated normal Linear weights, unit
    #: norms, He-normal convs over the fan-out of one group, zero biases;
    #: the stem fills ``pos_embed`` with the sin-cos table.
    default_init_cfg = [
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer=['LayerNorm', 'GroupNorm'], val=1.,
             bias=0.),
        dict(type='mmhybrid.FanOutNormal', layer='Conv2d', per_group=True,
             bias=0.)
    ]
    #: Checkpoint keys holding the weights, in order of preference: the
    #: official evaluation loads the EMA weights.
    state_dict_keys = ('state_dict_ema', 'model_ema', 'state_dict', 'model')
    weights_hint = (
        f'The official ImageNet weights are in the Google Drive folder linked '
        f'from {OFFICIAL_WEIGHTS}; save the file for your arch at that path '
        '(it loads as released).')

    def __init__(self,
                 arch: ArchType = 's',
                 pretrain_img_size: int = 224,
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.1,
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        arch = self.arch_settings
        dims, heads, depths = (list(arch[k]) for k in
                               ('embed_dims', 'num_heads', 'depths'))
        mlp_ratios = list(arch.get('mlp_ratios', [4] * len(depths)))
        self.pos_grid = -(-pretrain_img_size // 4)
        dpr = torch.linspace(0, drop_path_rate, sum(depths),
                             device='cpu').tolist()
        stride = 4  # the stem's two stride-2 convs
        for i in range(4):
            if i == 0:
                embed = SGFormerStem(self.in_channels, dims[0], self.pos_grid)
            else:
                embed = ConvPatchMerging(dims[i - 1], dims[i])
                stride *= 2
            start = sum(depths[:i])
            blocks = nn.ModuleList([
                SGFormerBlock(
                    dims[i], heads[i],
                    mode='full' if i == 3 else ('sg' if j % 2 else 'hs'),
                    sr_ratio=(8, 4, 2, 1)[i], mlp_ratio=mlp_ratios[i],
                    qkv_bias=qkv_bias, drop_path=dpr[start + j])
                for j in range(depths[i])
            ])
            self.add_module(f'patch_embed{i + 1}', embed)
            self.add_module(f'block{i + 1}', blocks)
            self.add_module(f'norm{i + 1}', nn.LayerNorm(dims[i], eps=1e-6))
            self.feature_info.append(
                dict(num_chs=dims[i], reduction=stride, module=f'norm{i + 1}'))
        self._freeze_stages()

    @classmethod
    def check_arch(cls, arch: Dict) -> None:
        """Raise ValueError for settings the official design cannot have."""
        depths, heads, dims = (list(arch[k]) for k in
                               ('depths', 'num_heads', 'embed_dims'))
        sr_ratios = list(arch.get('sr_ratios', [8, 4, 2, 1]))
        if len(depths) != 4:
            raise ValueError(
                'SGFormer needs 4 stages; valid archs give 4 embed_dims, '
                f'num_heads, depths and mlp_ratios, got {arch}')
        super().check_arch(arch)
        if sr_ratios != [8, 4, 2, 1]:
            raise ValueError(
                f'SGFormer sr_ratios must be [8, 4, 2, 1] (the only valid '
                f'value: the SG run lengths are tied to it), got {sr_ratios}')
        if any(d % 2 or d < 2 for d in depths[:3]) or depths[3] < 1:
            raise ValueError(
                'SGFormer depths in stages 1-3 must be even and >= 2 (an HS '
                'block hands its significance map to the SG block after it); '
                f'stage 4 any >= 1; valid e.g. [2, 4, 16, 1], got {depths}')
        if any(h % 2 for h in heads[:3]):
            raise ValueError(
                'SGFormer num_heads in stages 1-3 must be even (HS/SG blocks '
                f'split them into two halves); valid e.g. [2, 4, 8, 16], got '
                f'{heads}')
        if any(c % h for c, h in zip(dims, heads)):
            raise ValueError(
                f'SGFormer embed_dims must be divisible by num_heads; valid '
                f'e.g. [64, 128, 256, 512] with [2, 4, 8, 16], got {dims} '
                f'with {heads}')

    # --------------------------------------------------------- forward ----
    def stem_modules(self) -> List[nn.Module]:
        return [self.patch_embed1]

    def stage_modules(self, i: int) -> List[nn.Module]:
        mods = [getattr(self, f'block{i + 1}'), getattr(self, f'norm{i + 1}')]
        return mods + ([getattr(self, f'patch_embed{i + 1}')] if i else [])

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.patch_embed1(x)

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        if i:
            x = getattr(self, f'patch_embed{i + 1}')(x)
        hw = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)  # tokens (B, H*W, C)
        significance = None
        for block in getattr(self, f'block{i + 1}'):
            x, significance = self.run_block(block, x, hw, significance)
        x = getattr(self, f'norm{i + 1}')(x)
        out = _to_nchw(x, hw).contiguous()
        return out, out

    # ---------------------------------------------------- checkpoints ----
    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """Official SG-Former keys -> this layout: ``pos_embed`` moves into
        the stem, ``head.*`` is dropped. Pure and idempotent."""
        state_dict = extract_state_dict(state_dict, keys=cls.state_dict_keys)
        return {('patch_embed1.pos_embed' if k == 'pos_embed' else k): v
                for k, v in state_dict.items() if not k.startswith('head.')}

    def adapt_pretrained(self, key: str, value: Tensor,
                         target: Tensor) -> Optional[Tensor]:
        """Resize a square ``pos_embed`` table (bicubic) to the configured
        grid; other mismatches are not adapted."""
        if key.endswith('pos_embed') and value.ndim == 3 and \
                value.shape[2] == target.shape[2]:
            src = math.isqrt(value.shape[1])
            if src * src == value.shape[1]:
                return resize_pos_embed(value, (src, src),
                                        (self.pos_grid, ) * 2)
        return None

    # ------------------------------------------------------- LR decay -----
    def param_position(self, name: str) -> Tuple[Optional[int], int]:
        head, _, rest = name.partition('.')
        for prefix in ('patch_embed', 'block', 'norm'):
            if head.startswith(prefix) and head[len(prefix):].isdigit():
                stage = int(head[len(prefix):]) - 1
                if prefix == 'patch_embed':
                    return stage, -1
                depth = len(getattr(self, f'block{stage + 1}'))
                if prefix == 'norm':  # in the path: after the last block
                    return stage, depth - 1
                return stage, int(rest.split('.')[0])
        return None, 0
