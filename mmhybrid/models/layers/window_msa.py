# Copyright (c) mmhybrid contributors. All rights reserved.
"""Swin's window multi-head self-attention (W-MSA) on a q/k/v map.

Takes the q/k/v projection of a whole (padded, cyclically shifted) map, so a
module that reads that map another way too (Swin-ACmix's convolution path)
shares it with the attention. In training, autograd keeps that map and the
attention weights only; the window partition and the scaled queries are
recomputed in backward (plain autograd would keep a partitioned copy of q/k/v
and the scaled queries besides).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor
from torch.autograd.function import once_differentiable

from .recompute import autocast_like, autocast_state, records_grad


def _partition(x: Tensor, window_size: int, num_heads: int,
               parts: int) -> Tensor:
    """``(B, H, W, parts heads d)`` -> ``(parts, B nW, heads, ws*ws, d)``
    (windows row-major); ``parts=3`` splits q/k/v."""
    b, h, w, c = x.shape
    ws = window_size
    # (B, H/M, W/M, parts, heads, d, M, M): unfold, see layers/swin.py
    x = x.view(b, h, w, parts, num_heads, -1).unfold(1, ws, ws)
    x = x.unfold(2, ws, ws).permute(3, 0, 1, 2, 4, 6, 7, 5)
    return x.reshape(parts, -1, num_heads, ws * ws, c // (parts * num_heads))


def _merge(x: Tensor, hw: Tuple[int, int], window_size: int) -> Tensor:
    """The inverse of :func:`_partition`."""
    (h, w), ws = hw, window_size
    parts, _, nh, _, d = x.shape
    x = x.view(parts, -1, h // ws, w // ws, nh, ws, ws, d)
    return x.permute(1, 2, 5, 3, 6, 0, 4, 7).reshape(-1, h, w, parts * nh * d)


def _weights(q: Tensor, k: Tensor, bias: Tensor, mask: Optional[Tensor],
             scale: float) -> Tensor:
    """Softmax of ``(scale q) k^T + bias (+ mask)``, mask ``(nW, N, N)``."""
    attn = (q * scale) @ k.transpose(-2, -1) + bias
    if mask is not None:
        nw, n = mask.shape[0], mask.shape[-1]
        attn = attn.view(-1, nw, attn.shape[1], n, n) + mask.unsqueeze(1)
        attn = attn.view(-1, attn.shape[2], n, n)
    return attn.softmax(-1)


class _WindowMSA(torch.autograd.Function):
    """:func:`window_msa` saving the q/k/v map and the attention weights."""

    @staticmethod
    def forward(ctx, qkv: Tensor, bias: Tensor, mask: Optional[Tensor],
                window_size: int, num_heads: int, scale: float) -> Tensor:
        ctx.autocast = autocast_state(qkv.device.type)
        ctx.args = (window_size, num_heads, scale)
        q, k, v = _partition(qkv, window_size, num_heads, 3)
        attn = _weights(q, k, bias, mask, scale)
        ctx.save_for_backward(qkv, attn)
        return _merge((attn @ v)[None], qkv.shape[1:3], window_size)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        qkv, attn = ctx.saved_tensors
        ws, nh, scale = ctx.args
        with autocast_like(ctx.autocast):
            q, k, v = _partition(qkv, ws, nh, 3)
            g = _partition(grad, ws, nh, 1)[0]
            g_attn = g @ v.transpose(-2, -1)
            g_v = attn.transpose(-2, -1) @ g
            # softmax backward
            g_attn = (g_attn - (attn * g_attn).sum(-1, keepdim=True)) * attn
            g_bias = g_attn.sum(0) if ctx.needs_input_grad[1] else None
            g_q = (g_attn @ k) * scale
            g_k = g_attn.transpose(-2, -1) @ (q * scale)
            g_qkv = _merge(torch.stack([g_q, g_k, g_v]), qkv.shape[1:3], ws)
        return g_qkv.to(qkv.dtype), g_bias, None, None, None, None


def window_msa(qkv: Tensor, bias: Tensor, mask: Optional[Tensor],
               window_size: int, num_heads: int, scale: float,
               attn_drop: Optional[nn.Dropout] = None) -> Tensor:
    """Swin's W-MSA (without the output projection) on a q/k/v map.

    Args:
        qkv (Tensor): ``(B, H, W, 3 C)``, channels ``(q/k/v, heads, d)``;
            ``H`` and ``W`` multiples of ``window_size``.
        bias (Tensor): Relative position bias ``(heads, N, N)``, ``N =
            window_size**2``.
        mask (Tensor, optional): Additive mask ``(nW, N, N)`` of the windows
            (row-major), or None.
        window_size (int): Window size.
        num_heads (int): Attention heads.
        scale (float): Query scale.
        attn_drop (nn.Dropout, optional): Dropout on the attention weights.
            Defaults to None.

    Returns:
        Tensor: ``(B, H, W, C)``, channels ``(heads, d)``.
    """
    dropout = attn_drop is not None and attn_drop.training and attn_drop.p
    if records_grad(qkv, bias) and not dropout:
        return _WindowMSA.apply(qkv, bias, mask, window_size, num_heads,
                                scale)
    q, k, v = _partition(qkv, window_size, num_heads, 3)
    attn = _weights(q, k, bias, mask, scale)
    if attn_drop is not None:
        attn = attn_drop(attn)
    return _merge((attn @ v)[None], qkv.shape[1:3], window_size)
