# Copyright (c) mmhybrid contributors. All rights reserved.
"""ViT-LSLA: a Swin-like hierarchy whose window attention is light
self-limited attention (LSLA), built from the paper alone.

`ViT-LSLA: Vision Transformer with Light Self-Limited-Attention
<https://arxiv.org/abs/2210.17115>`_ (Hechen, Huang, Zhao, 2022). No code or
weights were ever released.

- **LSA**: keys and values are the block input X itself ("Q, K, V -> Q, X,
  X"); Q = X W_q absorbs W_k; of the value and output projections, which
  collapse into one matrix, the output projection is kept.
- **SLA**: a dynamic scale DS (a relative table like the inner position
  bias) replaces ``d^-0.5``, the inner bias stays in the softmax, and an
  outer bias of the same structure is added after it:
  ``Y = W_o((softmax(DS[r] * Q X^T + B_in[r]) + B_out[r]) X)``.
- **Network**: a two-conv stem to H/4 x W/4 x 96, then Swin blocks with LSLA
  in place of window attention (window 7, shifted every second block) and
  patch merging between four stages.

Every point the text leaves open is a documented switch (``attn_mode``,
``out_proj``, ``scale_mode``, ``inner_bias``, ``outer_bias``, ``shift``,
arch ``mlp_ratio`` / ``stem_channels``); masked pairs (shift regions,
padding) get logit ``-inf`` and no outer bias. Training recomputes the
attention weights and the FFN's GELU in backward. The choices, the budget
(18.9M / 3.5G), why ``'t'`` is Swin-T's layout with MLP ratio 3 and the
memory figures are in ``configs/lsla/README.md``.
"""
import re
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmhybrid.registry import MODELS
from ..utils.checkpoint import extract_state_dict
from ..layers.recompute import autocast_like, autocast_state, records_grad
from ..layers.swin import (PatchMerging, SwinStagesMixin, crop,
                           padded_size, relative_position_index,
                           resize_relative_table, traced)
from .base_backbone import BaseBackbone, Stage

#: Names of the three relative tables (no weight decay in the configs).
TABLES = ('relative_position_bias_table', 'dynamic_scale_table',
          'outer_bias_table')


def limited_weights(q: Tensor, k: Tensor, scale: Union[Tensor, float],
                    inner: Optional[Tensor], outer: Optional[Tensor],
                    mask: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """The weights of self-limited attention, written out.

    Args:
        q, k (Tensor): ``(B*nW, heads, N, d)`` queries and keys.
        scale (Tensor | float): ``(heads, N, N)`` dynamic scale, or the fixed
            scale (applied to ``q``, as SDPA does).
        inner, outer (Tensor, optional): ``(heads, N, N)`` biases inside and
            after the softmax.
        mask (Tensor, optional): ``(nW, N, N)`` additive 0/-inf mask.

    Returns:
        tuple: The logits before scale and biases ``S = Q K^T``, the softmax
        ``P`` and the final weights ``W = P + B_out`` (0 on masked pairs),
        each ``(B*nW, heads, N, N)``.
    """
    fixed = not isinstance(scale, Tensor)
    if fixed:
        q = q * scale
    s = q @ k.transpose(-2, -1)
    bw, nh, n, _ = s.shape
    nw = 1
    if mask is not None:  # the biases per window, (nW, heads, N, N)
        nw, mask = mask.shape[0], mask.unsqueeze(1)
        inner = mask if inner is None else inner + mask
        if outer is not None:  # no outer bias across masked pairs
            outer = torch.where(mask == 0, outer, 0.)
    logits = s.view(-1, nw, nh, n, n)
    if fixed:
        logits = logits if inner is None else logits + inner
    elif inner is not None:
        logits = torch.addcmul(inner, logits, scale)
    else:
        logits = logits * scale
    p = logits.softmax(-1)
    w = p if outer is None else p + outer
    return s, p.view(s.shape), w.view(s.shape)


def _sum_to_table(x: Tensor, heads: int) -> Tensor:
    """Sum a ``(B*nW, heads, N, N)`` gradient over the windows."""
    return x.view(-1, heads, *x.shape[-2:]).sum(0)


def _contiguous(q: Tensor, k: Tensor,
                v: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Contiguous copies of head-split views, made once (each matmul would
    copy them again); ``v`` shares ``k``'s when they are one tensor."""
    k_ = k.contiguous()
    return q.contiguous(), k_, k_ if v is k else v.contiguous()


class LimitedAttentionFunction(torch.autograd.Function):
    """``W V`` with ``W`` from :func:`limited_weights`, keeping only ``Q``,
    ``K``, ``V`` (views of tensors saved anyway) and the tables for
    backward. Autograd would keep ``S``, ``P``, ``W`` and copies of ``Q``,
    ``K``, ``V``: a block's largest saved activations. The backward
    recomputes ``S``, ``P`` and ``W`` (one extra ``Q K^T``)."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor,
                scale: Union[Tensor, float], inner: Optional[Tensor],
                outer: Optional[Tensor], mask: Optional[Tensor]) -> Tensor:
        ctx.autocast = autocast_like(autocast_state(q.device.type))
        ctx.fixed_scale = None if isinstance(scale, Tensor) else scale
        ctx.save_for_backward(q, k, v, None if ctx.fixed_scale else scale,
                              inner, outer, mask)
        q, k, v = _contiguous(q, k, v)
        return limited_weights(q, k, scale, inner, outer, mask)[2] @ v

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        q, k, v, scale, inner, outer, mask = ctx.saved_tensors
        q, k, v = _contiguous(q, k, v)
        needs = ctx.needs_input_grad
        fixed = ctx.fixed_scale is not None
        if fixed:
            scale = ctx.fixed_scale
        with ctx.autocast:
            s, p, w = limited_weights(q, k, scale, inner, outer, mask)
            grad_v = w.transpose(-2, -1) @ grad if needs[2] else None
            del w
            grad_w = (grad @ v.transpose(-2, -1)).to(p.dtype)
        grad_outer = None
        if needs[5]:  # summed over the batch, masked, over the windows
            nw = 1 if mask is None else mask.shape[0]
            grad_outer = grad_w.view(-1, nw, *grad_w.shape[1:]).sum(0)
            if mask is not None:
                grad_outer = torch.where(mask.unsqueeze(1) == 0,
                                         grad_outer, 0.)
            grad_outer = grad_outer.sum(0)
        # masked pairs: P = 0, so no gradient to the logits or inner bias
        grad_logits = torch._softmax_backward_data(grad_w, p, -1, p.dtype)
        del p, grad_w
        nh = q.shape[1]
        grad_inner = _sum_to_table(grad_logits, nh) if needs[4] else None
        grad_scale = None
        if not fixed and needs[3]:
            grad_scale = _sum_to_table(s.mul_(grad_logits), nh)
        del s
        grad_s = grad_logits.mul_(scale) if not fixed else grad_logits
        with ctx.autocast:
            grad_q = grad_k = None
            if needs[0]:
                grad_q = grad_s @ k
                if fixed:
                    grad_q = grad_q * scale
            if needs[1]:
                grad_k = grad_s.transpose(-2, -1) @ (q * scale if fixed
                                                     else q)
        return grad_q, grad_k, grad_v, grad_scale, grad_inner, \
            grad_outer, None


class GeluLinearFunction(torch.autograd.Function):
    """``F.linear(F.gelu(h), weight, bias)`` keeping ``h`` (GELU's backward
    needs it anyway) but not the GELU output, which the backward recomputes
    (an FFN block's largest saved activation: ``mlp_ratio`` x tokens)."""

    @staticmethod
    def forward(ctx, h: Tensor, weight: Tensor,
                bias: Optional[Tensor]) -> Tensor:
        ctx.autocast = autocast_like(autocast_state(h.device.type))
        ctx.save_for_backward(h, weight)
        ctx.has_bias = bias is not None
        return F.linear(F.gelu(h), weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], ...]:
        h, weight = ctx.saved_tensors
        needs = ctx.needs_input_grad
        with ctx.autocast:
            a = F.gelu(h)
            grad_a = (grad @ weight).to(h.dtype) if needs[0] else None
            grad_w = grad.reshape(-1, grad.shape[-1]).t() @ \
                a.reshape(-1, a.shape[-1]) if needs[1] else None
        del a
        grad_b = grad.reshape(-1, grad.shape[-1]).sum(0) \
            if ctx.has_bias and needs[2] else None
        grad_h = torch.ops.aten.gelu_backward(grad_a, h) \
            if needs[0] else None
        return grad_h, grad_w, grad_b


class GeluFFN(FFN):
    """mmcv's two-layer GELU FFN (same layers and keys, no residual) whose
    training graph keeps the hidden activation once
    (:class:`GeluLinearFunction`).

    Args:
        embed_dims (int): Input and output channels.
        feedforward_channels (int): Hidden channels.
        ffn_drop (float): Dropout after each layer. Defaults to 0.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int,
                 ffn_drop: float = 0.) -> None:
        super().__init__(embed_dims, feedforward_channels, num_fcs=2,
                         act_cfg=dict(type='GELU'), ffn_drop=ffn_drop,
                         add_identity=False)

    def forward(self, x: Tensor) -> Tensor:
        (fc1, _, drop), fc2 = self.layers[:2]
        if (self.training and drop.p) or \
                not records_grad(x, fc2.weight):
            return super().forward(x)
        return GeluLinearFunction.apply(fc1(x), fc2.weight, fc2.bias)


class LSLA(nn.Module):
    """Light self-limited attention in shifted windows.

    Per window and head, with ``X`` the (normalised) window tokens::

        A = softmax(S * (Q K^T) + B_in[r] + mask)   # S: DS[r] or d ** -0.5
        Y = W_o ((A + B_out[r] * keep) V)

    ``Q = X W_q`` (or ``X``), ``K = X`` (or ``X W_k``), ``V = X`` (or
    ``X W_v``) per ``attn_mode``. With a fixed scale and no outer bias this is
    one fused ``F.scaled_dot_product_attention``.

    Args:
        embed_dims (int): Channels ``C``.
        num_heads (int): Heads; ``C`` must be divisible by it.
        window_size (int): Window size ``M``. Defaults to 7.
        attn_mode (str): Three letters for Q, K, V: ``q``/``k``/``v`` for a
            learned projection, ``x`` for the input itself. 'qxx' is LSA,
            'qkv' window MSA. Defaults to 'qxx'.
        out_proj (bool): Keep the output projection ``W_o``.
            Defaults to True.
        scale_mode (str): 'dynamic' (learned per relative position and
            head) or 'fixed' (``head_dim ** -0.5``). Defaults to 'dynamic'.
        inner_bias (bool): Relative position bias inside the softmax.
            Defaults to True.
        outer_bias (bool): Relative position bias added after the softmax.
            Defaults to True.
        qkv_bias (bool): Bias of the input projections. Defaults to True.
        attn_drop (float): Dropout on the attention weights. Defaults to 0.
        proj_drop (float): Dropout on the output. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 attn_mode: str = 'qxx',
                 out_proj: bool = True,
                 scale_mode: str = 'dynamic',
                 inner_bias: bool = True,
                 outer_bias: bool = True,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.) -> None:
        super().__init__()
        if not re.fullmatch('[qx][kx][vx]', attn_mode):
            raise ValueError(f"attn_mode must be three letters [qx][kx][vx] "
                             f"(e.g. 'qxx', 'qkv'), got {attn_mode!r}")
        if scale_mode not in ('dynamic', 'fixed'):
            raise ValueError(f"scale_mode must be 'dynamic' or 'fixed', got "
                             f'{scale_mode!r}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dim = embed_dims // num_heads
        self.window_size = window_size
        self.attn_mode = attn_mode
        self.scale_mode = scale_mode
        self.scale = self.head_dim**-0.5
        self.projected = [c for c in attn_mode if c != 'x']
        self.in_proj = nn.Linear(
            embed_dims, len(self.projected) * embed_dims,
            bias=qkv_bias) if self.projected else None
        self.proj = nn.Linear(embed_dims, embed_dims) if out_proj \
            else nn.Identity()
        self.attn_drop = attn_drop
        self.proj_drop = nn.Dropout(proj_drop)

        size = ((2 * window_size - 1)**2, num_heads)
        if inner_bias:
            self.relative_position_bias_table = nn.Parameter(torch.zeros(size))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=.02)
        if scale_mode == 'dynamic':
            self.dynamic_scale_table = nn.Parameter(
                torch.full(size, self.scale))
        if outer_bias:
            self.outer_bias_table = nn.Parameter(torch.zeros(size))
        self.register_buffer(
            'relative_position_index',
            relative_position_index(window_size), persistent=False)

    @property
    def fused(self) -> bool:
        """Whether the attention runs as one fused SDPA call."""
        return self.scale_mode == 'fixed' and \
            not hasattr(self, 'outer_bias_table')

    def _table(self, name: str) -> Optional[Tensor]:
        """``(heads, N, N)`` view of a relative table, or None."""
        table = getattr(self, name, None)
        if table is None:
            return None
        n = self.window_size**2
        idx = self.relative_position_index.view(-1)
        return table[idx].view(n, n, -1).permute(2, 0, 1)

    def _split_heads(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def qkv(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values ``(B*nW, heads, N, d)`` of windows
        ``(B*nW, N, C)``: views of ``x``, or contiguous projections (made
        once here, the copy replaces the projection's output in memory;
        every matmul would copy the view again)."""
        xh = self._split_heads(x)
        proj = iter(self.in_proj(x).split(self.embed_dims, -1)) \
            if self.in_proj is not None else None
        return tuple(
            xh if c == 'x' else self._split_heads(next(proj)).contiguous()
            for c in self.attn_mode)

    def attention_weights(self, q: Tensor, k: Tensor,
                          mask: Optional[Tensor]) -> Tensor:
        """The final weights ``A + B_out`` (explicit path).

        Args:
            q (Tensor): ``(B*nW, heads, N, d)`` queries.
            k (Tensor): ``(B*nW, heads, N, d)`` keys.
            mask (Tensor, optional): ``(nW, N, N)`` additive 0/-inf mask.

        Returns:
            Tensor: ``(B*nW, heads, N, N)``.
        """
        return limited_weights(q, k, *self._tables(), mask)[2]

    def _tables(self) -> Tuple[Union[Tensor, float], Optional[Tensor],
                               Optional[Tensor]]:
        """Scale (the dynamic one or ``d^-0.5``), inner and outer bias."""
        scale = self._table('dynamic_scale_table')
        return (self.scale if scale is None else scale,
                self._table('relative_position_bias_table'),
                self._table('outer_bias_table'))

    def attend(self, q: Tensor, k: Tensor, v: Tensor,
               mask: Optional[Tensor]) -> Tensor:
        """Attention output ``(B*nW, heads, N, d)``."""
        p = self.attn_drop if self.training else 0.
        if self.fused:
            bias = self._table('relative_position_bias_table')
            if mask is not None:
                m = mask.unsqueeze(1).to(q.dtype)
                bias = m if bias is None else bias.to(q.dtype) + m
                # (nW, heads, N, N) repeated over the batch: the fused
                # kernels take 4-D inputs only (5-D runs the math kernel)
                bias = bias.repeat(q.shape[0] // mask.shape[0], 1, 1, 1)
            elif bias is not None:
                bias = bias.to(q.dtype)
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=p, scale=self.scale)
        tables = self._tables()
        if not p and records_grad(q, k, v, *tables):
            # training: the weights are recomputed in backward, not kept
            return LimitedAttentionFunction.apply(q, k, v, *tables, mask)
        attn = limited_weights(q, k, *tables, mask)[2]
        if p:
            attn = F.dropout(attn, p)
        return attn @ v

    def forward(self, x: Tensor, shift: int = 0,
                mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            x (Tensor): Normalised tokens ``(B, H, W, C)``, unshifted.
            shift (int): Cyclic shift of this block (0: none).
            mask (Tensor, optional): ``(nW, N, N)`` additive mask of the
                padded, shifted map (Swin's shift regions, padding apart):
                0 where a pair may attend, ``-inf`` where not (masked pairs
                get exactly zero weight), as
                :func:`~mmhybrid.models.layers.swin.window_attention_mask`
                gives with ``value=float('-inf')`` (built once per stage).
                None: nothing masked.

        Returns:
            Tensor: ``(B, H, W, C)``.
        """
        b, h, w, c = x.shape
        ws = self.window_size
        hp, wp = padded_size(h, ws), padded_size(w, ws)
        padded = traced() or (hp, wp) != (h, w)
        if padded:
            x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
        # (B, hp/M, wp/M, C, M, M): unfold, see layers/swin.py
        x = x.unfold(1, ws, ws).unfold(2, ws, ws).permute(0, 1, 2, 4, 5, 3)
        x = x.reshape(-1, ws * ws, c)
        out = self.attend(*self.qkv(x), mask)
        out = self.proj(out.transpose(1, 2).reshape(x.shape))
        out = out.view(b, hp // ws, wp // ws, ws, ws, c).transpose(2, 3)
        out = out.reshape(b, hp, wp, c)
        if shift:
            out = torch.roll(out, (shift, shift), (1, 2))
        if padded:
            out = crop(crop(out, 1, h), 2, w)
        return self.proj_drop(out)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'window_size={self.window_size}, '
                f'attn_mode={self.attn_mode!r}, '
                f'scale_mode={self.scale_mode!r}')


class LSLABlock(nn.Module):
    """A Swin block with :class:`LSLA` in place of window attention:
    ``x + DropPath(LSLA(LN(x)))``, then ``x + DropPath(FFN(LN(x)))``.

    Args:
        embed_dims (int): Channels.
        num_heads (int): Heads.
        window_size (int): Window size. Defaults to 7.
        shift (bool): Shifted-window block (by ``window_size // 2``).
            Defaults to False.
        mlp_ratio (float): FFN hidden ratio. Defaults to 3.
        drop_rate (float): Dropout after attention and in the FFN.
            Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth. Defaults to 0.
        **attn_kwargs: The switches of :class:`LSLA`.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 shift: bool = False,
                 mlp_ratio: float = 3.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 **attn_kwargs) -> None:
        super().__init__()
        self.shift_size = window_size // 2 if shift else 0
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = LSLA(embed_dims, num_heads, window_size,
                         attn_drop=attn_drop_rate, proj_drop=drop_rate,
                         **attn_kwargs)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0. \
            else nn.Identity()
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = GeluFFN(embed_dims, int(embed_dims * mlp_ratio),
                           drop_rate)

    def forward(self, x: Tensor, shift: int,
                mask: Optional[Tensor]) -> Tensor:
        x = self.residual(x, self.attn(self.norm1(x), shift, mask))
        return self.residual(x, self.ffn(self.norm2(x)))

    def residual(self, x: Tensor, y: Tensor) -> Tensor:
        """``x + DropPath(y)`` in one op (mmcv's ``drop_path`` takes two
        more passes over ``y``), with the same random draw."""
        if not self.training or not isinstance(self.drop_path, DropPath):
            return x + y
        keep = 1 - self.drop_path.drop_prob
        shape = (y.shape[0], ) + (1, ) * (y.ndim - 1)
        scale = (keep + torch.rand(shape, dtype=y.dtype, device=y.device))
        return torch.addcmul(x, y, scale.floor_().div_(keep))


@MODELS.register_module()
class ViTLSLA(SwinStagesMixin, BaseBackbone):
    """ViT-LSLA backbone: conv stem, four stages of :class:`LSLABlock` with
    patch merging between them, outputs at strides 4-32 (any input size).

    Every returned stage output goes through its own LayerNorm ``norm{i}``
    (built only for ``out_indices``); outputs have ``ceil(H / stride)`` rows
    and columns. ``configs/lsla/README.md`` gives the reading of the paper
    behind every switch.

    Args:
        arch (str | dict): ``'t'``/``'tiny'`` (the paper's budget on Swin-T's
            depths, default), ``'t-deep'``/``'tiny-deep'`` (the budget with
            depths [1, 1, 10, 1]), ``'t-swin'``/``'tiny-swin'`` (Swin-T's
            layout literally, MLP ratio 4), or a dict
            with ``embed_dims``, ``depths``, ``num_heads`` and optionally
            ``mlp_ratio`` (default 4) and ``stem_channels`` (default
            ``embed_dims // 2``); ``base='t'`` updates a variant.
            Defaults to 't'.
        window_size (int): Window size ``M``. Defaults to 7.
        attn_mode (str): See :class:`LSLA`. Defaults to 'qxx'.
        out_proj (bool): See :class:`LSLA`. Defaults to True.
        scale_mode (str): See :class:`LSLA`. Defaults to 'dynamic'.
        inner_bias (bool): See :class:`LSLA`. Defaults to True.
        outer_bias (bool): See :class:`LSLA`. Defaults to True.
        shift (bool): Shifted windows in every second block.
            Defaults to True.
        qkv_bias (bool): Bias of the input projections. Defaults to True.
        drop_rate (float): Dropout rate. Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block (linear
            from 0). Defaults to 0.1.
        stem_norm_cfg (dict): Norm of the stem convs.
            Defaults to ``dict(type='BN')``.
        stem_act_cfg (dict): Activation between the stem convs.
            Defaults to ``dict(type='GELU')``.
        **kwargs: ``in_channels``, ``out_indices``, ``frozen_stages``,
            ``norm_eval``, ``with_cp``, ``init_cfg`` and ``pretrained`` of
            :class:`BaseBackbone`.

    Example:
        >>> import torch
        >>> from mmhybrid.models import ViTLSLA
        >>> model = ViTLSLA(arch=dict(embed_dims=8, depths=[1, 1, 2, 1],
        ...                           num_heads=[1, 1, 2, 2])).eval()
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 64, 90))]
        [(1, 8, 16, 23), (1, 16, 8, 12), (1, 32, 4, 6), (1, 64, 2, 3)]
    """
    #: Masked pairs (shift regions, padding) get exactly zero weight.
    mask_value = float('-inf')
    arch_zoo = {
        # the paper's 18.9M / 3.5G (100 classes, 224): Swin-T's depths,
        # heads and shift pairing, MLP ratio 3, a 96-wide two-conv stem
        **dict.fromkeys(['t', 'tiny'],
                        dict(embed_dims=96, depths=[2, 2, 6, 2],
                             num_heads=[3, 6, 12, 24], mlp_ratio=3,
                             stem_channels=96)),
        # also within the budget: deeper in stage 3, one block elsewhere
        **dict.fromkeys(['t-deep', 'tiny-deep'],
                        dict(embed_dims=96, depths=[1, 1, 10, 1],
                             num_heads=[3, 6, 12, 24], mlp_ratio=3,
                             stem_channels=48)),
        # Swin-T's layout literally (over the budget)
        **dict.fromkeys(['t-swin', 'tiny-swin'],
                        dict(embed_dims=96, depths=[2, 2, 6, 2],
                             num_heads=[3, 6, 12, 24], mlp_ratio=4,
                             stem_channels=48)),
    }
    essential_keys = frozenset({'embed_dims', 'depths', 'num_heads'})
    optional_keys = frozenset({'mlp_ratio', 'stem_channels'})
    #: Swin's init (truncated normal Linear weights, zero biases, unit
    #: LayerNorms); convs keep PyTorch's init; the tables their own.
    default_init_cfg = [
        dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
    ]

    def __init__(self,
                 arch: Union[str, Dict] = 't',
                 window_size: int = 7,
                 attn_mode: str = 'qxx',
                 out_proj: bool = True,
                 scale_mode: str = 'dynamic',
                 inner_bias: bool = True,
                 outer_bias: bool = True,
                 shift: bool = True,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 stem_norm_cfg: Dict = dict(type='BN'),
                 stem_act_cfg: Dict = dict(type='GELU'),
                 **kwargs) -> None:
        super().__init__(arch, **kwargs)
        arch = self.arch_settings
        depths, num_heads = list(arch['depths']), list(arch['num_heads'])
        self.window_size = window_size
        dims = [arch['embed_dims'] * 2**i for i in range(len(depths))]
        mid = arch.get('stem_channels', dims[0] // 2)
        self.stem = nn.Sequential(
            ConvModule(self.in_channels, mid, 3, 2, 1,
                       norm_cfg=stem_norm_cfg, act_cfg=stem_act_cfg),
            ConvModule(mid, dims[0], 3, 2, 1, norm_cfg=stem_norm_cfg,
                       act_cfg=None))
        stride = 4  # two stride-2 convs
        attn_kwargs = dict(attn_mode=attn_mode, out_proj=out_proj,
                           scale_mode=scale_mode, inner_bias=inner_bias,
                           outer_bias=outer_bias, qkv_bias=qkv_bias)
        dpr = torch.linspace(
            0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i, (depth, heads) in enumerate(zip(depths, num_heads)):
            start = sum(depths[:i])
            blocks = [
                LSLABlock(dims[i], heads, window_size, shift and j % 2 == 1,
                          arch.get('mlp_ratio', 4), drop_rate,
                          attn_drop_rate, dpr[start + j], **attn_kwargs)
                for j in range(depth)
            ]
            if i:
                stride *= 2  # patch merging halves the map
            self.stages.append(
                Stage(PatchMerging(dims[i - 1]) if i else None, blocks))
            self.feature_info.append(
                dict(num_chs=dims[i], reduction=stride, module=f'stages.{i}'))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(dims[i]))
        self._freeze_stages()

    def forward_stem(self, x: Tensor) -> Tensor:
        # channels-last convs: oneDNN's fast layout for a 3-channel input
        # (the stem fwd+bwd takes ~15% less time on CPU), and the NHWC
        # tokens the blocks want are then a free permute
        x = x.contiguous(memory_format=torch.channels_last)
        return self.stem(x).permute(0, 2, 3, 1)

    # ---------------------------------------------------- checkpoints ----
    @classmethod
    def convert_official(cls, state_dict: Dict[str, Tensor]
                         ) -> Dict[str, Tensor]:
        """No official checkpoints exist: accept this layout only, from a
        bare backbone, a det/seg model or an mmpretrain ``ImageClassifier``
        (``backbone.`` prefix stripped), dropping classifier keys
        (``head.*``, ``neck.*``, ``fc.*``). Pure and idempotent."""
        state_dict = extract_state_dict(state_dict)
        return {k: v for k, v in state_dict.items()
                if not k.startswith(('head.', 'neck.', 'fc.'))}

    def adapt_pretrained(self, key: str, value: Tensor,
                         target: Tensor) -> Optional[Tensor]:
        """Resize a relative table (inner bias, dynamic scale, outer bias) to
        another window size, bicubic as SwinACmix (and mmpretrain) resize
        the relative position bias table; None otherwise."""
        if not key.endswith(TABLES):
            return None
        return resize_relative_table(value, target)
