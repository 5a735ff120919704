# Copyright (c) mmhybrid contributors. All rights reserved.
"""Sliding-window attention (ResNet-ACmix's attention path), computed by row
tiles.

Every query attends to the ``k x k`` window around it, over keys and values
reflection-padded by ``k // 2`` (:func:`reflect_pad2d`). Instead of
unfolding ``k*k`` copies of the keys (the official code), each query row is
cut into tiles of 8 queries; for each of the window's ``k`` row offsets a
tile's logits against the ``s (8 - 1) + k`` keys of that key row it sees are
one matrix product, and each query's own window is a strided view (a band)
of them; the weighted sum is the same products with the weights' band.
Maps are laid out channels-last, rows outermost, so that every product
reads queries and keys in place (no gathered copies). In training, autograd
keeps the inputs and the attention weights; the scaled queries and the
padded keys/values are recomputed in backward. ResNet-ACmix runs the same
forward and backward (:func:`attention_forward`, :func:`attention_backward`)
inside a Function that recomputes the q/k/v projection too.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .recompute import (AutocastState, autocast_like, autocast_state,
                        records_grad)

#: Elements of a chunk's tile logits (query rows are processed in chunks).
CHUNK = 1 << 18


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


class _Rows:
    """Layout of the op on an ``(N, d, Ho, Wo)`` query map: query row ``y``
    is cut into tiles of ``tile`` queries; for each row offset ``dy`` of the
    window, a tile's queries see ``span`` consecutive keys of key row
    ``s y + dy``, so one matrix product per ``dy`` gives a tile's logits
    against those keys, read as a band, without gathering keys.

    Maps are kept channels-last with rows outermost, ``(rows, N, cols,
    d)``, and one spare tile per row, so that ``(row, N, tile)`` collapses
    into one batch dimension of constant stride for queries and keys alike;
    keys are split into ``s`` planes of rows of equal parity. Spare and
    padding queries are zero and get zero weights in backward."""

    def __init__(self, q_shape: torch.Size, kernel_size: int, stride: int,
                 dtype: torch.dtype) -> None:
        self.n, self.d, self.ho, self.wo = q_shape
        self.k, self.s, self.dtype = kernel_size, stride, dtype
        # a tile's keys must not reach past the next tile's (backward adds
        # a tile's key gradients in two non-overlapping halves)
        self.tile = max(8, -(-(kernel_size - stride) // stride))
        self.tiles = -(-self.wo // self.tile) + 1  # one spare tile per row
        self.step = stride * self.tile
        self.span = stride * (self.tile - 1) + kernel_size
        self.wk = self.tiles * self.step  # key row length
        self.hk = self.ho + (kernel_size - 1) // stride  # rows per plane
        self.per_row = self.n * self.tiles
        per = CHUNK // (kernel_size * self.per_row * self.tile * self.span)
        self.per = self.ho if torch.compiler.is_compiling() else max(1, per)

    def chunks(self):
        for y0 in range(0, self.ho, self.per):
            y1 = min(y0 + self.per, self.ho)
            yield y0, y1, (y1 - y0) * self.per_row

    def queries(self, x: Tensor) -> Tensor:
        """``(N, d, Ho, Wo)`` -> ``(Ho, N, tiles * tile, d)``, zero-padded."""
        out = x.new_zeros(self.ho, self.n, self.tiles * self.tile, self.d,
                          dtype=self.dtype)
        out[:, :, :self.wo].copy_(x.permute(2, 0, 3, 1))
        return out

    def unqueries(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`queries` (a view)."""
        return x[:, :, :self.wo].permute(1, 3, 0, 2)

    def keys(self, x: Tensor) -> Tensor:
        """Padded keys ``(N, d, Hp, Wp)`` -> a flat zero-padded buffer of
        ``s`` planes ``(hk, N, wk, d)`` (key row ``s i + p`` in plane
        ``p``), with room after it for the last spare tile's keys."""
        size = self.s * self.hk * self.n * self.wk * self.d
        buf = x.new_zeros(size + self.span * self.d, dtype=self.dtype)
        planes = buf[:size].view(self.s, self.hk, self.n, self.wk, self.d)
        for p in range(self.s):
            src = x[:, :, p::self.s]
            planes[p, :src.shape[2], :, :x.shape[3]].copy_(
                src.permute(2, 0, 3, 1))
        return buf

    def unkeys(self, buf: Tensor, hw: Tuple[int, int]) -> Tensor:
        """Inverse of :meth:`keys` ``(N, d, *hw)``."""
        size = self.s * self.hk * self.n * self.wk * self.d
        planes = buf[:size].view(self.s, self.hk, self.n, self.wk, self.d)
        out = buf.new_empty(self.n, self.d, *hw)
        for p in range(self.s):
            dst = out[:, :, p::self.s]
            dst.copy_(planes[p, :dst.shape[2], :, :hw[1]].permute(1, 3, 0, 2))
        return out

    def key_tiles(self, buf: Tensor, dy: int, y0: int, nb: int,
                  length: Optional[int] = None, at: int = 0) -> Tensor:
        """View ``(nb, span, d)``: the keys of row offset ``dy`` that the
        tiles of query rows ``y0...`` see (or ``length`` of them from key
        ``at``)."""
        d = self.d
        row = (dy % self.s) * self.hk + dy // self.s + y0
        return buf.as_strided(
            (nb, self.span if length is None else length, d),
            (self.step * d, d, 1),
            buf.storage_offset() + (row * self.n * self.wk + at) * d)

    def add_key_tiles(self, buf: Tensor, dy: int, y0: int,
                      x: Tensor) -> None:
        """Add ``(nb, span, d)`` tile gradients into the keys they read
        (tiles overlap: in two non-overlapping halves)."""
        nb, st = x.shape[0], self.step
        self.key_tiles(buf, dy, y0, nb, st).add_(x[:, :st])
        self.key_tiles(buf, dy, y0, nb, self.span - st, st).add_(x[:, st:])

    def band(self, x: Tensor) -> Tensor:
        """``(k, nb, tile, span)`` logits of the tiles per row offset ->
        view ``(nb, tile, k, k)`` of each query's own window."""
        sk, sb, si, sl = x.stride()
        return x.as_strided((x.shape[1], self.tile, self.k, self.k),
                            (sb, si + self.s * sl, sk, sl),
                            x.storage_offset())


def _compute_dtype(x: Tensor) -> torch.dtype:
    """The matrix products' dtype: autocast's for float32 inputs."""
    dev = x.device.type
    if x.dtype == torch.float32 and torch.amp.is_autocast_available(dev) \
            and torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return x.dtype


def _bmm(out: Tensor, a: Tensor, b: Tensor, accumulate: bool = False,
         grad: bool = False) -> None:
    """``out (+)= a @ b`` in place; with ``grad`` as ops autograd records
    (it cannot record ``out=``), and into a wider ``out`` (autocast) by
    adding the product's result."""
    if grad or out.dtype != a.dtype:
        out.add_(torch.bmm(a, b)) if accumulate else out.copy_(
            torch.bmm(a, b))
    elif accumulate:
        out.baddbmm_(a, b)
    else:
        torch.bmm(a, b, out=out)


def _attend(q: Tensor, kp: Tensor, vp: Tensor, kernel_size: int,
            stride: int, attn: Optional[Tensor] = None) -> Tensor:
    """Forward. ``q`` ``(N, d, Ho, Wo)``, padded ``kp``/``vp``; writes
    the attention weights to ``attn`` ``(Ho, N, Wo, k*k)`` if given.
    Returns a ``(N, d, Ho, Wo)`` view. Differentiable (the plain path under
    ``torch.compile``)."""
    rw = _Rows(q.shape, kernel_size, stride, _compute_dtype(q))
    t, k, k2, d = rw.tile, kernel_size, kernel_size**2, rw.d
    grad = torch.is_grad_enabled() and any(x.requires_grad
                                           for x in (q, kp, vp))
    qb, kb, vb = rw.queries(q), rw.keys(kp), rw.keys(vp)
    # sums over the window's rows in the input's dtype (autocast: float32)
    out = torch.empty_like(qb, dtype=q.dtype)
    logits = weights = None
    for y0, y1, nb in rw.chunks():
        if logits is None or grad:  # (autograd keeps every chunk's)
            logits = qb.new_empty(k, nb, t, rw.span)
            # only the bands are ever written: the rest stays zero
            weights = torch.zeros_like(logits)
        lg, wt = logits[:, :nb], weights[:, :nb]
        qc = qb[y0:y1].view(nb, t, d)
        for dy in range(k):
            _bmm(lg[dy], qc, rw.key_tiles(kb, dy, y0, nb).mT, grad=grad)
        a = rw.band(lg).reshape(nb, t, k2).softmax(-1)
        if attn is not None:
            attn[y0:y1].copy_(a.view(y1 - y0, rw.n, -1, k2)[:, :, :rw.wo])
        rw.band(wt).copy_(a.view(nb, t, k, k))
        oc = out[y0:y1].view(nb, t, d)
        for dy in range(k):
            _bmm(oc, wt[dy], rw.key_tiles(vb, dy, y0, nb), dy > 0, grad)
    return rw.unqueries(out)


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
    rw = _Rows(q.shape, kernel_size, stride, _compute_dtype(q))
    t, k, k2, d = rw.tile, kernel_size, kernel_size**2, rw.d
    qb, kb, vb, gb = (rw.queries(q), rw.keys(kp), rw.keys(vp),
                      rw.queries(grad))
    gq = torch.empty_like(qb, dtype=q.dtype)
    gk, gv = (torch.zeros_like(kb, dtype=kp.dtype),
              torch.zeros_like(vb, dtype=vp.dtype))
    g_out = grad.new_zeros(())
    dense = None
    for y0, y1, nb in rw.chunks():
        if dense is None:
            dense = qb.new_empty(k, nb, t, rw.span)
            # bands of the weights and of the logits' gradient (the rest
            # stays zero), the weights with zeros at padding queries
            wa, wd = torch.zeros_like(dense), torch.zeros_like(dense)
            a_buf = attn.new_zeros(nb, t, k2)
        a = a_buf[:nb]
        a.view(y1 - y0, rw.n, -1, k2)[:, :, :rw.wo].copy_(attn[y0:y1])
        gc, qc = gb[y0:y1].view(nb, t, d), qb[y0:y1].view(nb, t, d)
        for dy in range(k):
            torch.bmm(gc, rw.key_tiles(vb, dy, y0, nb).transpose(1, 2),
                      out=dense[dy, :nb])
        ga = rw.band(dense[:, :nb]).reshape(nb, t, k2)
        # softmax backward: dl = a * (ga - sum_j a_j ga_j)
        dot = (a * ga).sum(-1, keepdim=True)
        g_out += dot.sum()
        dl = ga.sub_(dot).mul_(a)
        rw.band(wa[:, :nb]).copy_(a.view(nb, t, k, k))
        rw.band(wd[:, :nb]).copy_(dl.view(nb, t, k, k))
        gqc = gq[y0:y1].view(nb, t, d)
        for dy in range(k):
            w_a, w_d = wa[dy, :nb], wd[dy, :nb]
            keys = rw.key_tiles(kb, dy, y0, nb)
            _bmm(gqc, w_d, keys, dy > 0)
            rw.add_key_tiles(gv, dy, y0, torch.matmul(w_a.mT, gc))
            rw.add_key_tiles(gk, dy, y0, torch.matmul(w_d.mT, qc))
    hw = kp.shape[-2:]
    return (rw.unqueries(gq), rw.unkeys(gk, hw), rw.unkeys(gv, hw), g_out)


def _finish(out: Tensor, weight: Optional[Tensor]) -> Tensor:
    """``weight * out``, contiguous (one copy)."""
    if weight is None:
        return out.contiguous()
    if torch.is_grad_enabled() and (out.requires_grad
                                    or weight.requires_grad):
        return (out * weight).contiguous()  # (out= is not differentiable)
    res = out.new_empty(out.shape, dtype=torch.result_type(out, weight))
    return torch.mul(out, weight, out=res)


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


def attention_forward(q: Tensor, k: Tensor, v: Tensor, pe: Tensor,
                      weight: Optional[Tensor], kernel_size: int,
                      stride: int, scale: float) -> Tuple[Tensor, Tensor]:
    """The forward of :func:`sliding_window_attention` (no autograd
    records), and the attention weights its backward takes."""
    qs, kp, vp = _prepare(q, k, v, pe, kernel_size, stride, scale)
    n, _, ho, wo = qs.shape
    attn = qs.new_empty(ho, n, wo, kernel_size**2)
    out = _attend(qs, kp, vp, kernel_size, stride, attn)
    return _finish(out, weight), attn


def attention_backward(grad: Tensor, q: Tensor, k: Tensor, v: Tensor,
                       pe: Tensor, weight: Optional[Tensor], attn: Tensor,
                       kernel_size: int, stride: int, scale: float,
                       needs: Sequence[bool], autocast: AutocastState
                       ) -> Tuple[Optional[Tensor], ...]:
    """Gradients of :func:`attention_forward` w.r.t. ``q, k, v, pe,
    weight`` (None where ``needs`` is False), recomputing the scaled
    queries and the padded keys / values under the forward's
    ``autocast``."""
    with torch.enable_grad(), autocast_like(autocast):
        leaves = [t.detach().requires_grad_(n)
                  for t, n in zip((q, k, v, pe), needs)]
        prepared = _prepare(*leaves, kernel_size, stride, scale)
    with autocast_like(autocast):
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
            g_weight if weight is not None and needs[4] else None)


class _SlidingWindowAttention(torch.autograd.Function):
    """:func:`sliding_window_attention` saving its inputs and the attention
    weights only."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, pe: Tensor,
                weight: Optional[Tensor], kernel_size: int, stride: int,
                scale: float) -> Tensor:
        ctx.autocast = autocast_state(q.device.type)
        ctx.args = (kernel_size, stride, scale)
        out, attn = attention_forward(q, k, v, pe, weight, kernel_size,
                                      stride, scale)
        ctx.save_for_backward(q, k, v, pe, weight, attn)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        *tensors, attn = ctx.saved_tensors
        return (*attention_backward(grad, *tensors, attn, *ctx.args,
                                    ctx.needs_input_grad, ctx.autocast),
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
    qkv = _prepare(q, k, v, pe, kernel_size, stride, scale)
    if torch.compiler.is_compiling():  # export / compile: no out= ops
        out = _attend_traced(*qkv, kernel_size, stride)
        return out.contiguous() if weight is None else out * weight
    return _finish(_attend(*qkv, kernel_size, stride), weight)
