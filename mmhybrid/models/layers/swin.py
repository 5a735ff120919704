# Copyright (c) mmhybrid contributors. All rights reserved.
"""Swin-style stage machinery shared by Swin-ACmix and ViT-LSLA.

Stages (``Stage``: an optional :class:`PatchMerging` as ``downsample``, then
blocks called as ``block(x, shift, mask)`` on NHWC maps); masks come from
:func:`window_attention_mask`, which pads maps to window multiples and keeps
padding out of every window. :class:`SwinStagesMixin` gives a backbone the
matching ``forward_stage``; :func:`resize_relative_table` resizes tables.
:func:`relative_position_index` indexes relative tables;
:func:`window_valid_mask` marks the real tokens of padded, unshifted windows
(SG-Former's local half, HAT-Net's grid attention).

Traced (``torch.export``, ``torch.compile``; :func:`traced`), sizes are
symbolic: padding and masks are applied whatever the size (zero padding and
an all-valid mask change nothing), so that no branch specialises H and W.
Crops (:func:`crop`) are gathers under ``torch.export`` (slicing would have
to prove ``h <= padded h``, which its shape solver cannot) and contiguous
copies of a slice under ``torch.compile``: a view's contiguity depends on
whether the map was padded, which dynamo would guard on (one more graph),
and the gather meets an inductor CPU bug in torch 2.14 (pytorch#196681: a
reduction tiled over two non-adjacent loops stores its tail at full vector
width; Swin-ACmix's residual + LayerNorm after the crop wrote past its
buffer: wrong outputs, then a heap corruption).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def traced() -> bool:
    """Whether the forward is being traced (``torch.export``, the ONNX
    exporter, ``torch.compile``): sizes may be symbolic."""
    return torch.compiler.is_compiling()


def padded_size(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple`` (positive integer
    arithmetic only: ONNX's integer division truncates negative operands)."""
    return (n + multiple - 1) // multiple * multiple


def crop(x: Tensor, dim: int, size: int) -> Tensor:
    """The first ``size`` entries of ``x`` along ``dim``: a view; traced, a
    gather (export) or a contiguous copy (compile), see the module
    docstring."""
    if not traced():
        return x.narrow(dim, 0, size)
    if torch.compiler.is_exporting():
        return x.index_select(dim, torch.arange(size, device=x.device))
    return x.narrow(dim, 0, size).clone(memory_format=torch.contiguous_format)


def window_valid_mask(hw: Tuple[int, int], padded_hw: Tuple[int, int],
                      window: int, device: torch.device) -> Optional[Tensor]:
    """Which tokens of the ``window x window`` windows of an ``h x w`` map,
    zero-padded on the bottom/right to ``padded_hw``, are real.

    Returns:
        Tensor | None: ``(nW, window**2)`` bool, True on real tokens
        (windows row-major); None without padding (traced: always a mask).
    """
    (h, w), (hp, wp) = hw, padded_hw
    if not traced() and (hp, wp) == (h, w):
        return None
    valid = (torch.arange(hp, device=device)[:, None] < h) & \
        (torch.arange(wp, device=device)[None, :] < w)
    # (hp/M, wp/M, M, M), unfolded (see sgformer.window_partition)
    valid = valid.unfold(0, window, window).unfold(1, window, window)
    return valid.reshape(-1, window * window)


def relative_position_index(window_size: int) -> Tensor:
    """Index into a ``((2M-1)^2, heads)`` relative table of every (query,
    key) pair of an ``M x M`` window, as Swin's ``relative_position_index``.

    Returns:
        Tensor: ``(M*M, M*M)`` long tensor.
    """
    ar = torch.arange(window_size)
    coords = torch.stack(torch.meshgrid(ar, ar, indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]) + (window_size - 1)
    return rel[0] * (2 * window_size - 1) + rel[1]


def window_attention_mask(h: int, w: int, window_size: int, shift: int,
                          device: torch.device,
                          value: float = -100.,
                          dtype: torch.dtype = torch.float32
                          ) -> Optional[Tensor]:
    """Mask (0 / ``value``) of the windows of an ``h x w`` map padded to
    window multiples and rolled by ``-shift``: tokens attend only within
    their shift region (the official Swin rule) and never to padding.
    ``value`` is Swin's -100 by default; ``-inf`` gives masked pairs
    exactly zero weight. ``dtype`` is that of the logits it is added to
    (a float32 mask would promote half-precision logits to float32).

    Returns:
        Tensor | None: ``(nW, N, N)``, or None when nothing is masked.
    """
    ws = window_size
    hp, wp = padded_size(h, ws), padded_size(w, ws)
    if not traced() and not shift and (hp, wp) == (h, w):
        return None
    # by arithmetic on index grids, so that sizes may be symbolic
    r = torch.arange(hp, device=device)
    c = torch.arange(wp, device=device)
    if shift:  # the official regions: [0, -ws), [-ws, -shift), [-shift, )
        rows = (r >= hp - ws).long() + (r >= hp - shift).long()
        cols = (c >= wp - ws).long() + (c >= wp - shift).long()
        region = 3 * rows[:, None] + cols[None, :]
    else:
        region = torch.zeros(hp, wp, dtype=torch.long, device=device)
    # padding (rows >= h / cols >= w before the roll by -shift) is its own
    # region; (r + shift) mod hp without a remainder by a size, which the
    # ONNX exporter cannot convert (shift < hp)
    rs, cs = r + shift, c + shift
    pad = (torch.where(rs >= hp, rs - hp, rs) >= h)[:, None] | \
        (torch.where(cs >= wp, cs - wp, cs) >= w)[None]
    region = torch.where(pad, -1, region)
    # (hp/M, wp/M, M, M) windows, unfolded (see window_valid_mask)
    region = region.unfold(0, ws, ws).unfold(1, ws, ws).reshape(-1, ws * ws)
    mask = region.unsqueeze(1) != region.unsqueeze(2)
    # where, not a product: 0 * -inf would be nan
    return torch.where(mask, value, 0.).to(dtype)


class PatchMerging(nn.Module):
    """Swin patch merging: 2x2 neighbours (official order), LN, Linear.

    Odd maps are zero-padded on the right/bottom (as mmdet).

    Args:
        in_channels (int): Input channels; the output has twice as many.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * in_channels)
        self.reduction = nn.Linear(4 * in_channels, 2 * in_channels,
                                   bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[1:3]
        if traced():
            # the same 2x2 neighbours, by unfold: (B, H/2, W/2, C, row,
            # col) -> channels (col, row, C), the official order
            x = F.pad(x, (0, 0, 0, padded_size(w, 2) - w,
                          0, padded_size(h, 2) - h))
            x = x.unfold(1, 2, 2).unfold(2, 2, 2).permute(0, 1, 2, 5, 4, 3)
            x = x.reshape(*x.shape[:3], -1)
            return self.reduction(self.norm(x))
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2],
                       x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


def resize_relative_table(value: Tensor, target: Tensor) -> Optional[Tensor]:
    """Resize a ``((2M-1)^2, heads)`` relative table to ``target``'s window
    (bicubic, as mmpretrain); None if either is not such a table."""
    if value.dim() != 2 or value.shape[1:] != target.shape[1:]:
        return None
    src, dst = math.isqrt(value.shape[0]), math.isqrt(target.shape[0])
    if src * src != value.shape[0] or dst * dst != target.shape[0]:
        return None
    table = value.float().T.reshape(1, -1, src, src)
    table = F.interpolate(table, size=(dst, dst), mode='bicubic',
                          align_corners=False)
    return table.reshape(-1, dst * dst).T.to(value.dtype)


class SwinStagesMixin:
    """``forward_stage`` of a backbone whose stages are
    :class:`~mmhybrid.models.backbones.base_backbone.Stage` s of Swin blocks
    (``self.stages``, ``self.window_size``, optional
    ``self.norm{i}``, a ``stem`` returning NHWC); mixed in before
    :class:`~mmhybrid.models.backbones.BaseBackbone`."""

    #: Additive value of masked pairs in :func:`window_attention_mask`.
    mask_value = -100.

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        stage = self.stages[i]
        if i > 0:
            x = stage.downsample(x)
        h, w = x.shape[1:3]
        ws = self.window_size
        # official rule: no shift when the window covers the map's short
        # side (as two comparisons: min() of symbolic sizes would compare
        # H with W)
        shifted = any(block.shift_size for block in stage.blocks)
        shift = ws // 2 if shifted and h > ws and w > ws else 0
        masks = {0: window_attention_mask(h, w, ws, 0, x.device,
                                          self.mask_value, x.dtype)}
        if shift:
            masks[shift] = window_attention_mask(h, w, ws, shift, x.device,
                                                 self.mask_value, x.dtype)
        for block in stage.blocks:
            s = shift if block.shift_size else 0
            x = self.run_block(block, x, s, masks[s])
        norm = getattr(self, f'norm{i}', None)
        out = norm(x) if norm is not None else x
        return x, out.permute(0, 3, 1, 2)
