# Copyright (c) mmhybrid contributors. All rights reserved.
"""Sliding-window attention (ResNet-ACmix's attention path), computed by tiles.

Every query attends to the ``k x k`` window around it, over keys and values
reflection-padded by ``k // 2`` (:func:`reflect_pad2d`). Neighbouring windows
overlap, so instead of unfolding ``k*k`` copies of the keys (the official
code), queries are cut into ``T x T`` tiles, the ``(s (T - 1) + k)^2`` keys a
tile sees are gathered once, and a tile's logits and weighted sum are two
matrix products; each query's own window is a strided view (a band) of its
tile's logits. In training, autograd keeps the inputs (views of the q/k/v
projection, kept anyway) and the attention weights; the scaled queries, the
padded keys/values and the tiles are recomputed in backward.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .recompute import autocast_like, autocast_state, records_grad

#: Elements of a chunk's tile logits (rows of tiles are processed in chunks).
CHUNK = 1 << 22


def _reflect_index(n: int, pad: int, device: torch.device) -> Tensor:
    """Indices of a reflection padding of ``pad`` on a side of length ``n``,
    continued past the border as often as needed (period ``2 (n - 1)``)."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


def _traced_reflect_index(n: int, pad: int,
                          device: torch.device) -> Tensor:
    """:func:`_reflect_index` without a branch on ``n`` (``n == 1`` gives
    index 0 through the clamp)."""
    idx = torch.arange(-pad, n + pad, device=device)
    # (a tensor divisor: the ONNX exporter has no remainder by a SymInt)
    period = idx.new_full((), 2 * torch.sym_max(n - 1, 1))
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx).clamp_max(n - 1)


def reflect_pad2d(x: Tensor, pad: int) -> Tensor:
    """``ReflectionPad2d(pad)`` that also works on sides of ``pad`` pixels or
    fewer: the reflection continues (a 1-pixel side replicates), as
    ``ReflectionPad2d`` applied in steps it accepts would; identical to it
    where it is defined.

    Args:
        x (Tensor): Input of shape ``(..., H, W)``.
        pad (int): Padding on each side.

    Returns:
        Tensor: Shape ``(..., H + 2 pad, W + 2 pad)``.
    """
    h, w = x.shape[-2:]
    if pad == 0:
        return x
    if torch.compiler.is_compiling():
        # no branch on the (symbolic) size
        x = x.index_select(-2, _traced_reflect_index(h, pad, x.device))
        return x.index_select(-1, _traced_reflect_index(w, pad, x.device))
    if h > pad and w > pad and x.dim() in (3, 4):
        return F.pad(x, (pad, pad, pad, pad), mode='reflect')
    x = x.index_select(-2, _reflect_index(h, pad, x.device))
    return x.index_select(-1, _reflect_index(w, pad, x.device))


class _Tiling:
    """Geometry of the tiles of an ``(N, d, Ho, Wo)`` query map: ``rows x
    cols`` tiles of ``tile x tile`` queries, each seeing ``span x span``
    keys that start every ``step`` key pixels; keys (``keys_hw`` given) are
    zero-padded to ``keys_hw`` and queries to a whole number of tiles."""

    def __init__(self, q_shape: torch.Size, keys_hw: Tuple[int, int],
                 kernel_size: int, stride: int) -> None:
        self.n, self.d, self.ho, self.wo = q_shape
        self.k, self.s = kernel_size, stride
        # stride-2 tiles see 4x as many keys per query: smaller tiles
        self.tile = 8 if stride == 1 else 4
        self.rows = -(-self.ho // self.tile)
        self.cols = -(-self.wo // self.tile)
        self.step = stride * self.tile
        self.span = stride * (self.tile - 1) + kernel_size
        # (a stride-2 map of even size does not use the last key pixel)
        self.keys_hw = (max(keys_hw[0], self.step * (self.rows - 1) +
                            self.span),
                        max(keys_hw[1], self.step * (self.cols - 1) +
                            self.span))
        per_row = self.n * self.cols * self.tile**2 * self.span**2
        self.per = self.rows if torch.compiler.is_compiling() else \
            max(1, CHUNK // per_row)

    def pad_queries(self, x: Tensor) -> Tensor:
        t = self.tile
        return F.pad(x,
                     (0, self.cols * t - self.wo, 0, self.rows * t - self.ho))

    def pad_keys(self, x: Tensor) -> Tensor:
        hk, wk = self.keys_hw
        return F.pad(x, (0, wk - x.shape[-1], 0, hk - x.shape[-2]))

    def chunks(self):
        for r0 in range(0, self.rows, self.per):
            r1 = min(r0 + self.per, self.rows)
            yield (r0, r1, slice(r0 * self.tile, r1 * self.tile),
                   slice(r0 * self.step, (r1 - 1) * self.step + self.span))

    def query_tiles(self, x: Tensor) -> Tensor:
        """Rows of a padded query map ``(N, d, R t, cols t)`` ->
        ``(R N cols, t*t, d)``."""
        t = self.tile
        x = x.unflatten(2, (-1, t)).unflatten(4, (self.cols, t))
        return x.permute(2, 0, 4, 3, 5, 1).reshape(-1, t * t, self.d)

    def untile(self, x: Tensor, out: Tensor) -> None:
        """Write ``(R N cols, t*t, d)`` tiles into ``out`` ``(N, d, R t,
        cols t)``."""
        t = self.tile
        x = x.view(-1, self.n, self.cols, t, t, self.d)
        out.unflatten(2, (-1, t)).unflatten(4, (self.cols, t)).copy_(
            x.permute(1, 5, 0, 3, 2, 4))

    def key_tiles(self, x: Tensor) -> Tensor:
        """Rows of padded keys ``(N, d, Hk', Wk)`` -> overlapping tiles
        ``(R N cols, span*span, d)``."""
        s = self.span
        x = x.unfold(2, s, self.step).unfold(3, s, self.step)
        return x.permute(2, 0, 3, 4, 5, 1).reshape(-1, s * s, self.d)

    def fold_key_tiles(self, x: Tensor, out: Tensor) -> None:
        """Add ``(R N cols, span*span, d)`` tiles into rows ``out`` of the
        padded keys (overlaps summed)."""
        s, n = self.span, self.n
        x = x.view(-1, n, self.cols, s * s, self.d).permute(1, 4, 3, 0, 2)
        out += F.fold(x.reshape(n, self.d * s * s, -1), out.shape[-2:], s,
                      stride=self.step)

    def band(self, x: Tensor) -> Tensor:
        """``(B, t, t, span, span)`` logits of query tiles against their
        keys -> view ``(B, t, t, k, k)`` of each query's own window."""
        b, t, _, s, _ = x.shape
        return x.as_strided(
            (b, t, t, self.k, self.k),
            (t * t * s * s, t * s * s + self.s * s, s * s + self.s, s, 1))


def _attend(q: Tensor, kp: Tensor, vp: Tensor, kernel_size: int,
            stride: int, attn: Optional[Tensor] = None) -> Tensor:
    """Tiled forward. ``q`` ``(N, d, Ho, Wo)``, padded ``kp``/``vp``; writes
    the attention weights to ``attn`` ``(rows, N cols, t, t, k*k)`` if
    given."""
    tl = _Tiling(q.shape, kp.shape[-2:], kernel_size, stride)
    t, k2 = tl.tile, kernel_size**2
    q, kp, vp = tl.pad_queries(q), tl.pad_keys(kp), tl.pad_keys(vp)
    out = torch.empty_like(q)
    for r0, r1, rows, keys in tl.chunks():
        logits = torch.bmm(tl.query_tiles(q[:, :, rows]),
                           tl.key_tiles(kp[:, :, keys]).transpose(1, 2))
        logits = logits.view(-1, t, t, tl.span, tl.span)
        a = tl.band(logits).reshape(-1, t, t, k2).softmax(-1)
        if attn is not None:
            attn[r0:r1].view_as(a).copy_(a)
        weights = logits.zero_()
        tl.band(weights).copy_(a.unflatten(-1, (kernel_size, -1)))
        tl.untile(torch.bmm(weights.view(-1, t * t, tl.span**2),
                            tl.key_tiles(vp[:, :, keys])), out[:, :, rows])
    return out[..., :tl.ho, :tl.wo]


def _attend_traced(q: Tensor, kp: Tensor, vp: Tensor, kernel_size: int,
                   stride: int) -> Tensor:
    """:func:`_attend` by unfolded ``k x k`` windows of the keys and values
    (the official computation): no tiles, chunks or strided views, whose
    sizes the shape solver of ``torch.export`` / ``torch.compile`` cannot
    prove for a symbolic input size."""
    k, s = kernel_size, stride
    kw = kp.unfold(2, k, s).unfold(3, k, s).flatten(-2)
    vw = vp.unfold(2, k, s).unfold(3, k, s).flatten(-2)
    # (N, d, Ho, Wo, k*k) windows; logits and the sum over the head dim
    a = (q[..., None] * kw).sum(1, keepdim=True).softmax(-1)
    return (a * vw).sum(-1)


def _attend_backward(grad: Tensor, q: Tensor, kp: Tensor, vp: Tensor,
                     attn: Tensor, kernel_size: int,
                     stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of :func:`_attend` w.r.t. ``q``, ``kp``, ``vp``, and the
    inner product of ``grad`` with the output (for a scalar multiplier)."""
    tl = _Tiling(q.shape, kp.shape[-2:], kernel_size, stride)
    t, k2, hp, wp = tl.tile, kernel_size**2, *kp.shape[-2:]
    q, kp, vp = tl.pad_queries(q), tl.pad_keys(kp), tl.pad_keys(vp)
    grad = tl.pad_queries(grad)
    gq, gk, gv = torch.empty_like(q), torch.zeros_like(kp), \
        torch.zeros_like(vp)
    g_out = grad.new_zeros(())
    for r0, r1, rows, keys in tl.chunks():
        a = attn[r0:r1].view(-1, t, t, k2)
        g_tiles = tl.query_tiles(grad[:, :, rows])
        dense = torch.bmm(g_tiles, tl.key_tiles(vp[:, :, keys]).transpose(
            1, 2)).view(-1, t, t, tl.span, tl.span)
        ga = tl.band(dense).reshape(-1, t, t, k2)
        # softmax backward: dl = a * (ga - sum_j a_j ga_j)
        dot = (a * ga).sum(-1, keepdim=True)
        g_out += dot.sum()
        dl = ga.sub_(dot).mul_(a)
        dense.zero_()
        tl.band(dense).copy_(a.unflatten(-1, (kernel_size, -1)))
        dense = dense.view(-1, t * t, tl.span**2)
        tl.fold_key_tiles(torch.bmm(dense.transpose(1, 2), g_tiles),
                          gv[:, :, keys])
        dense = dense.view(-1, t, t, tl.span, tl.span).zero_()
        tl.band(dense).copy_(dl.unflatten(-1, (kernel_size, -1)))
        dense = dense.view(-1, t * t, tl.span**2)
        tl.untile(torch.bmm(dense, tl.key_tiles(kp[:, :, keys])),
                  gq[:, :, rows])
        tl.fold_key_tiles(
            torch.bmm(dense.transpose(1, 2), tl.query_tiles(q[:, :, rows])),
            gk[:, :, keys])
    return (gq[..., :tl.ho, :tl.wo], gk[..., :hp, :wp], gv[..., :hp, :wp],
            g_out)


def _prepare(q: Tensor, k: Tensor, v: Tensor, pe: Tensor, kernel_size: int,
             stride: int, scale: float) -> Tuple[Tensor, Tensor, Tensor]:
    """Strided, scaled queries and reflection-padded ``k - pe`` and ``v``,
    with the batch dims flattened. ``q . pe_q`` (the official logit is
    ``q . (k_j + pe_q - pe_j)``) is the same for the whole window, so
    softmax cancels it and it is not computed."""
    pad = kernel_size // 2
    q = (q[..., ::stride, ::stride] * scale).flatten(0, -4)
    kp = reflect_pad2d((k - pe).flatten(0, -4), pad)
    vp = reflect_pad2d(v.flatten(0, -4), pad)
    return q, kp, vp


class _SlidingWindowAttention(torch.autograd.Function):
    """:func:`sliding_window_attention` saving its inputs and the attention
    weights only."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, pe: Tensor,
                weight: Optional[Tensor], kernel_size: int, stride: int,
                scale: float) -> Tensor:
        ctx.autocast = autocast_state(q.device.type)
        ctx.args = (kernel_size, stride, scale)
        qs, kp, vp = _prepare(q, k, v, pe, kernel_size, stride, scale)
        tl = _Tiling(qs.shape, kp.shape[-2:], kernel_size, stride)
        attn = qs.new_empty(tl.rows, tl.n * tl.cols, tl.tile, tl.tile,
                            kernel_size**2)
        out = _attend(qs, kp, vp, kernel_size, stride, attn)
        ctx.save_for_backward(q, k, v, pe, weight, attn)
        return out.contiguous() if weight is None else out * weight

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        q, k, v, pe, weight, attn = ctx.saved_tensors
        kernel_size, stride, scale = ctx.args
        needs = ctx.needs_input_grad
        with torch.enable_grad(), autocast_like(ctx.autocast):
            leaves = [t.detach().requires_grad_(n)
                      for t, n in zip((q, k, v, pe), needs)]
            prepared = _prepare(*leaves, kernel_size, stride, scale)
        with autocast_like(ctx.autocast):
            *grads, g_weight = _attend_backward(
                grad.contiguous(), *(t.detach() for t in prepared), attn,
                kernel_size, stride)
        if weight is not None:
            # out = weight * attention: d/dweight = <grad, attention>
            g_weight = g_weight.reshape(weight.shape).to(weight.dtype)
            grads = [g.mul_(weight.to(g.dtype)) for g in grads]
        pairs = [(t, g) for t, g in zip(prepared, grads) if t.requires_grad]
        wanted = [t for t in leaves if t.requires_grad]
        res = iter(torch.autograd.grad([t for t, _ in pairs],
                                       wanted, [g for _, g in pairs])
                   if wanted else ())
        return (*(next(res) if n else None for n in needs[:4]),
                g_weight if weight is not None and needs[4] else None,
                None, None, None)


def sliding_window_attention(q: Tensor, k: Tensor, v: Tensor, pe: Tensor,
                             kernel_size: int = 7, stride: int = 1,
                             scale: float = 1.,
                             weight: Optional[Tensor] = None) -> Tensor:
    """The attention path of ResNet-ACmix.

    ``out[:, :, y, x] = weight * sum_j a_j v[:, :, s y + dy_j, s x + dx_j]``
    with ``a = softmax_j(scale q[:, :, s y, s x] . (k - pe)[..., s y + dy_j,
    s x + dx_j])`` over the ``kernel_size**2`` offsets of the window
    (keys, values and ``pe`` reflection-padded by ``kernel_size // 2``, see
    :func:`reflect_pad2d`).

    Args:
        q (Tensor): Queries ``(..., d, H, W)`` (e.g. ``(B, heads, d, H,
            W)`` views of a q/k/v projection).
        k (Tensor): Keys, same shape.
        v (Tensor): Values, same shape.
        pe (Tensor): Position encodings, broadcastable to ``k``.
        kernel_size (int): Odd window size. Defaults to 7.
        stride (int): Query stride. Defaults to 1.
        scale (float): Query scale. Defaults to 1.
        weight (Tensor, optional): A scalar multiplying the output (ACmix's
            ``rate1``). Defaults to None.

    Returns:
        Tensor: ``(N, d, ceil(H / stride), ceil(W / stride))``, the batch
        dims of ``q`` flattened into ``N``.
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'kernel_size must be odd, got {kernel_size}')
    # jit tracing (FLOP counting) sees one op, counted by the window's
    # products (mmhybrid.utils.flops), not the tiles'
    if records_grad(q, k, v, pe, weight) or torch.jit.is_tracing():
        return _SlidingWindowAttention.apply(q, k, v, pe, weight,
                                             kernel_size, stride, scale)
    attend = _attend_traced if torch.compiler.is_compiling() else _attend
    out = attend(*_prepare(q, k, v, pe, kernel_size, stride, scale),
                 kernel_size, stride)
    return out.contiguous() if weight is None else out * weight
