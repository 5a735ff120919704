# Copyright (c) mmhybrid contributors. All rights reserved.
"""ViT-LSLA: a hierarchical vision transformer with light self-limited
attention, the reference implementation built from the paper alone.

`ViT-LSLA: Vision Transformer with Light Self-Limited-Attention
<https://arxiv.org/abs/2210.17115>`_ (Hechen, Huang, Zhao, 2022). No code was
ever released; this file follows the paper's text (the project seed
``002_6ea764131ae16835.txt``, whose equations did not survive) and makes
every point the text leaves open a documented switch.

What the paper fixes, and how it is built here:

- **LSA** ("Q, K, V -> Q, X, X"): "LSA replaces K (key) and V (value) of
  self-attention with X (the original input)"; Q still comes from X through a
  fully connected layer, which absorbs ``W_k`` ("Q X^T with Q = X W_q W_k^T").
  Of the value projection and the output projection, which "collapse into one
  matrix ... either of them can be discarded", "this paper chooses the first"
  (discards the value projection): ``attn_mode='qxx', out_proj=True``.
- **SLA**, position-information module: a *dynamic scale* (DS) that
  "replaces the fixed scale; it matches the inner position bias and contains
  a set of learnable parameters", and the inner relative position bias inside
  the softmax: ``A = softmax(DS[r] * (Q X^T) + B_in[r])`` with ``r`` the
  relative position of query and key in the window.
- **SLA**, limited-attention module: "an extra outer position bias (outside
  the softmax), with the same structure as the inner position bias", which
  "severely limits the attention weights of its neighbours, especially
  itself": ``Y = (A + B_out[r]) X``, then the output projection.
- **Architecture**: "a stem block of two 3x3 convolution layers gives
  H/4 x W/4 x 96"; four stages with patch merging between them; "the block
  follows the Swin Transformer block ... with LSLA in place of the original
  self-attention"; window ``M = 7``.
- **Budget**: 18.9M parameters, 3.5 GFLOPs at 224, next to Swin-T's
  27.6M / 4.5G, i.e. Swin-T with a ~100-class head (IP102 has 102 classes,
  Mini-ImageNet 100); see :attr:`ViTLSLA.arch_zoo`.

Open points, the choice made, and why:

- **Depths, MLP ratio, stem width** (arch ``'t'``, the default): depths
  [1, 1, 10, 1], heads [3, 6, 12, 24] (head dim 32, as Swin), MLP ratio 3,
  stem 3 -> 48 -> 96: 18.69M / 3.46G by
  ``tools/analysis_tools/get_flops.py`` with a 100-class head.
  Keeping ``W_q`` and ``W_o`` (the text's reading) on the Swin-T layout gives
  23.4M / 3.9G; 18.9M needs a narrower MLP, and MLP ratio 3 on [2, 2, 6, 2]
  falls short of 3.5G. Several layouts meet both numbers within 3%; the
  default is deeper than Swin-T (13 blocks: LSA's savings let one "stack more
  self-attention blocks ... go deeper") and deepens stage 3, the stage Swin
  itself deepens (Swin-S/B), and of the candidates it is one whose time
  follows its MACs: a block at 56x56 costs far more time per MAC (thin
  matmuls, per-token LayerNorm/GELU/window copies) than one at 14x14, so the
  layouts that spend the budget at high resolution ([3, 2, 6, 2], the default
  before, or [2, 2, 6, 2] with a 96-wide stem) train only 9-13% faster than
  Swin-T instead of the MAC ratio's 23%
  (``configs/lsla/README.md#why-t-is-1-1-10-1``). Stages of one block have no
  shifted block. ``'t-swin'`` is the Swin-T layout literally ([2, 2, 6, 2],
  MLP ratio 4; 23.36M / 3.95G).
- **Stem**: ``Conv3x3/2 (3 -> 48) - BN - GELU - Conv3x3/2 (48 -> 96) - BN``:
  the text gives only "two 3x3 convolutions" and the output size; stride 2
  each, half width in the middle (the cheaper choice the budget prefers), BN
  as conv stems of ViTs usually have (``stem_norm_cfg``/``stem_act_cfg``).
- **Dynamic scale**: a ``((2M-1)^2, heads)`` table indexed like the inner
  bias ("matches the inner position bias"), multiplying the logits
  elementwise, initialised to ``head_dim ** -0.5`` everywhere, so training
  starts from the fixed scale it replaces; not clamped and not decayed
  (the configs put it in ``custom_keys``). ``scale_mode='fixed'`` is the
  paper's "FS" ablation.
- **Outer bias**: added to the softmax output with nothing renormalising
  afterwards (rows no longer sum to 1: the text "limits" large weights, which
  a renormalisation would partly undo); initialised to zero, so the initial
  model is plain LSA with DS and the bias learns its (negative) values near
  the query; ``outer_bias=False`` is the ablation.
- **Shifted windows** (implied by "follows the Swin block"): alternate
  blocks shift by ``M // 2`` as Swin (``shift=False`` turns it off), and not
  where the window covers the map's short side (Swin's classification rule).
  Shift-masked pairs and padding get **neither bias**: their logits are
  ``-inf`` (Swin adds -100, which leaves them a tiny weight and an inner-bias
  gradient), so their weights are exactly 0, and the outer bias is zeroed on
  them, so it cannot move weight across the cyclic seam either.
- **Padding**: maps that are not window multiples are zero-padded on the
  right/bottom per block (as ``SwinACmix``); padded tokens are masked out of
  every real token's window, so a real token's output never depends on
  padding. Maps that are window multiples (every stage at 224) are not padded.
- **Heads**: per-head channel slices of X serve as keys and values
  (``d = C / heads``), as in multi-head attention.

The switches reproduce the paper's ablations: ``attn_mode`` 'qkv' (window
MSA) / 'qxv' / 'qkx' / 'qxx' (LSA) / 'xxx' (no projection at all),
``out_proj`` (kept: the paper; dropped: with ``attn_mode='qxv'`` that is
"value projection kept"), ``scale_mode`` 'fixed' / 'dynamic',
``inner_bias``, ``outer_bias``. ``attn_mode='qkv', scale_mode='fixed',
outer_bias=False`` is Swin's window attention.
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

from mmhybrid.registry import MODELS
from ..utils.checkpoint import extract_state_dict
from ..layers.swin import (PatchMerging, SwinStagesMixin, crop,
                           padded_size, resize_relative_table, traced)
from .base_backbone import BaseBackbone, Stage

#: Names of the three relative tables (no weight decay in the configs).
TABLES = ('relative_position_bias_table', 'dynamic_scale_table',
          'outer_bias_table')


def relative_position_index(window_size: int) -> Tensor:
    """Index into a ``((2M-1)^2, heads)`` table of every (query, key) pair of
    an ``M x M`` window, as Swin's ``relative_position_index``.

    Returns:
        Tensor: ``(M*M, M*M)`` long tensor.
    """
    ar = torch.arange(window_size)
    coords = torch.stack(torch.meshgrid(ar, ar, indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]) + (window_size - 1)
    return rel[0] * (2 * window_size - 1) + rel[1]


def pad_to_windows(x: Tensor, pad_b: int, pad_r: int) -> Tensor:
    """Zero-pad ``(B, H, W, C)`` tokens on the bottom/right (a function of its
    own so that tests can fill the padding with noise)."""
    return F.pad(x, (0, 0, 0, pad_r, 0, pad_b))


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
        ``(B*nW, N, C)``."""
        xh = self._split_heads(x)
        proj = iter(self.in_proj(x).split(self.embed_dims, -1)) \
            if self.in_proj is not None else None
        return tuple(
            xh if c == 'x' else self._split_heads(next(proj))
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
        bw, nh, n, _ = q.shape
        nw = 1 if mask is None else mask.shape[0]
        bias = self._table('relative_position_bias_table')
        if mask is not None:
            mask = mask.unsqueeze(1)
            bias = mask if bias is None else bias + mask
        ds = self._table('dynamic_scale_table')
        if ds is None:
            q = q * self.scale
        logits = (q @ k.transpose(-2, -1)).view(-1, nw, nh, n, n)
        if ds is not None and bias is not None:
            logits = torch.addcmul(bias, logits, ds)
        elif ds is not None:
            logits = logits * ds
        elif bias is not None:
            logits = logits + bias
        attn = logits.softmax(-1)
        outer = self._table('outer_bias_table')
        if outer is not None:
            if mask is not None:  # no outer bias across masked pairs
                outer = torch.where(mask == 0, outer, 0.)
            attn = attn + outer
        return attn.view(bw, nh, n, n)

    def attend(self, q: Tensor, k: Tensor, v: Tensor,
               mask: Optional[Tensor]) -> Tensor:
        """Attention output ``(B*nW, heads, N, d)``."""
        p = self.attn_drop if self.training else 0.
        if self.fused:
            bias = self._table('relative_position_bias_table')
            if mask is not None:
                nw = mask.shape[0]
                m = mask.unsqueeze(1).to(q.dtype)
                bias = m if bias is None else bias.to(q.dtype) + m
                shape = (-1, nw) + q.shape[1:]
                out = F.scaled_dot_product_attention(
                    q.view(shape), k.view(shape), v.view(shape),
                    attn_mask=bias, dropout_p=p, scale=self.scale)
                return out.view(q.shape)
            if bias is not None:
                bias = bias.to(q.dtype)
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=p, scale=self.scale)
        attn = self.attention_weights(q, k, mask)
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
            x = pad_to_windows(x, hp - h, wp - w)
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
        self.ffn = FFN(embed_dims, int(embed_dims * mlp_ratio), num_fcs=2,
                       act_cfg=dict(type='GELU'), ffn_drop=drop_rate,
                       add_identity=False)

    def forward(self, x: Tensor, shift: int,
                mask: Optional[Tensor]) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), shift, mask))
        return x + self.drop_path(self.ffn(self.norm2(x)))


@MODELS.register_module()
class ViTLSLA(SwinStagesMixin, BaseBackbone):
    """ViT-LSLA backbone: conv stem, four stages of :class:`LSLABlock` with
    patch merging between them, outputs at strides 4-32 (any input size).

    Every returned stage output goes through its own LayerNorm ``norm{i}``
    (built only for ``out_indices``); outputs have ``ceil(H / stride)`` rows
    and columns. See the module docstring for the interpretation of the
    paper and every switch.

    Args:
        arch (str | dict): ``'t'``/``'tiny'`` (the paper's budget, default)
            or ``'t-swin'``/``'tiny-swin'`` (the Swin-T layout), or a dict
            with ``embed_dims``, ``depths``, ``num_heads`` and optionally
            ``mlp_ratio`` (default 4) and ``stem_channels`` (default
            ``embed_dims // 2``); ``base='t'`` updates a variant.
            Defaults to 't'.
        in_channels (int): Input image channels. Defaults to 3.
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
        **kwargs: ``out_indices``, ``frozen_stages``, ``norm_eval``,
            ``with_cp``, ``init_cfg`` and ``pretrained`` of
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
        # the paper's 18.9M / 3.5G: 18.69M / 3.46G (100 classes, 224)
        **dict.fromkeys(['t', 'tiny'],
                        dict(embed_dims=96, depths=[1, 1, 10, 1],
                             num_heads=[3, 6, 12, 24], mlp_ratio=3,
                             stem_channels=48)),
        # Swin-T's layout literally
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
                 in_channels: int = 3,
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
        arch = self.parse_arch(arch)
        depths, num_heads = list(arch['depths']), list(arch['num_heads'])
        if len(num_heads) != len(depths):
            raise ValueError(f'depths {depths} and num_heads {num_heads} '
                             'must have the same length')
        super().__init__(num_stages=len(depths), in_channels=in_channels,
                         **kwargs)
        self.arch = arch
        self.window_size = window_size
        dims = [arch['embed_dims'] * 2**i for i in range(len(depths))]
        mid = arch.get('stem_channels', dims[0] // 2)
        self.stem = nn.Sequential(
            ConvModule(in_channels, mid, 3, 2, 1, norm_cfg=stem_norm_cfg,
                       act_cfg=stem_act_cfg),
            ConvModule(mid, dims[0], 3, 2, 1, norm_cfg=stem_norm_cfg,
                       act_cfg=None))
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
            self.stages.append(
                Stage(PatchMerging(dims[i - 1]) if i else None, blocks))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.LayerNorm(dims[i]))
        self.stage_channels = dims
        self.stage_strides = [4 * 2**i for i in range(len(depths))]
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
