# Copyright (c) mmhybrid contributors. All rights reserved.
"""gnConv, the recursive gated convolution of HorNet, and its global filter.

`HorNet: Efficient High-Order Spatial Interactions with Recursive Gated
Convolutions <https://arxiv.org/abs/2207.14284>`_ (NeurIPS 2022).

gnConv of order n: a 1x1 conv gives ``p0`` and gates ``q0..q(n-1)`` of
widths doubling up to ``dim`` (the gates after a depthwise 7x7 conv or a
global-local filter), then ``p(k+1) = pw_k(pk * qk)`` and the output is
``proj_out(p(n-1) * q(n-1))``. Shared by the HorNet backbone (``scale=1/3``)
and by the HorFPN neck / gnConv UPerHead (no scale, optional different input
width, optional identity ``proj_out``).

Adapted from https://github.com/raoyongming/HorNet (MIT). Same parameters
and outputs (to float rounding); the computation departs in ways that
change no result (configs/hornet/README.md, "Training memory"):
``LayerNorm2d`` is ``F.layer_norm`` on the channels-last view, so maps run
channels-last; in training the gate products are recomputed in backward
inside the 1x1 conv that follows (:func:`linear_of_recomputed`), a layer
scale is folded into ``proj_out``, and the global filter is checkpointed.
Its FFT runs in float64 for float64 inputs (official: always float32).
"""
import math
from contextlib import nullcontext
from typing import Callable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.utils.checkpoint import checkpoint

from mmhybrid.registry import MODELS
from .recompute import autocast_like, autocast_state, records_grad


def adapt_complex_weight(weight: Tensor, size: Sequence[int]) -> Tensor:
    """Resize a global filter ``(C, h, w, 2)`` to ``(C, *size, 2)``.

    Bilinear with ``align_corners=True`` on the frequency grid, the real and
    imaginary parts resized independently: the same resize the official code
    applies at run time (to the rfft grid of the feature map) and at load
    time (to a differently configured ``h, w``). Runs in float32, or in
    float64 for a float64 filter.

    Args:
        weight (Tensor): Filter of shape ``(C, h, w, 2)``, last axis = (real,
            imag).
        size (Sequence[int]): Target ``(h, w)``.

    Returns:
        Tensor: The filter of shape ``(C, size[0], size[1], 2)``.
    """
    if not torch.compiler.is_compiling():
        # traced, the target size is symbolic: always resize (the identity
        # when the sizes agree) instead of specialising on the comparison
        size = tuple(int(s) for s in size)
        if tuple(weight.shape[1:3]) == size:
            return weight
    dtype = weight.dtype
    weight = F.interpolate(
        weight.to(_fft_dtype(dtype)).permute(3, 0, 1, 2), size=size,
        mode='bilinear', align_corners=True)
    return weight.permute(1, 2, 3, 0).to(dtype)


def _fft_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision of the global filter: float32 for half precision and
    float32 inputs, float64 for float64 ones."""
    return torch.promote_types(dtype, torch.float32)


def _dft_matrices(n: int, m: int, device: torch.device
                  ) -> Tuple[Tensor, Tensor]:
    """``cos`` and ``-sin`` of ``2 pi j k / n`` for ``j < n, k < m``,
    ``(n, m)``; angles from ``j k mod n`` (exact integers) stay accurate."""
    j = torch.arange(n, device=device)
    k = torch.arange(m, device=device)
    # a tensor divisor: the exporters cannot take a symbolic scalar one
    n = torch.ones((), dtype=j.dtype, device=device) * n
    angle = (j[:, None] * k[None, :]).remainder(n) * (2 * math.pi) / n
    return angle.cos(), -angle.sin()


def dft_global_filter(x: Tensor, weight: Tensor) -> Tensor:
    """``irfft2(rfft2(x) * weight, s=(H, W))`` (norm 'ortho') as real DFT
    matrix products, for :func:`torch.export`, which cannot keep H and W
    symbolic through ``irfft2``; the same function up to float rounding.

    Args:
        x (Tensor): ``(B, C, H, W)`` float32 map.
        weight (Tensor): ``(C, H, W // 2 + 1, 2)`` filter (real, imag).

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    b, c, h, w = x.shape
    cw, sw = _dft_matrices(w, w // 2 + 1, x.device)  # (W, W')
    ch, sh = _dft_matrices(h, h, x.device)  # (H, H), symmetric
    # plain batched products of fresh contiguous tensors: reshapes of
    # strided or broadcast operands would need facts about H and W that the
    # shape solver cannot prove
    x = x.clone(memory_format=torch.contiguous_format).view(b * c, h, w)
    n = b * c
    ch, sh = (m.expand(n, h, h) for m in (ch, sh))
    wr, wi = weight[..., 0], weight[..., 1]
    # rfft along W, then the complex DFT along H
    xr = torch.bmm(x, cw.expand(n, -1, -1))
    xi = torch.bmm(x, sw.expand(n, -1, -1))
    fr = (torch.bmm(ch, xr) - torch.bmm(sh, xi)).view(b, c, h, -1)
    fi = (torch.bmm(ch, xi) + torch.bmm(sh, xr)).view(b, c, h, -1)
    gr = (fr * wr - fi * wi).view(b * c, h, -1)
    gi = (fr * wi + fi * wr).view(b * c, h, -1)
    # inverse DFT along H (conjugate matrix), then the c2r transform along
    # W: bins 1 .. ceil(W / 2) - 1 stand for their mirror image too
    yr = torch.bmm(ch, gr) + torch.bmm(sh, gi)
    yi = torch.bmm(ch, gi) - torch.bmm(sh, gr)
    v = torch.arange(w // 2 + 1, device=x.device)
    mult = torch.where((v == 0) | (2 * v == w), 1., 2.)
    cw, sw = ((m * mult).T.expand(n, -1, -1) for m in (cw, sw))
    out = (torch.bmm(yr, cw) + torch.bmm(yi, sw)).view(b, c, h, w)
    return out / (h * w)  # two 'ortho' scales


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of an NCHW map, as HorNet writes it.

    The official formula (mean, biased variance, affine), computed by
    ``F.layer_norm`` on the channels-last view: autograd saves the input
    only, and the output is channels-last in memory, so the convolutions
    and products that follow run channels-last too. Half-precision inputs
    are normalised in float32 and cast back.

    Args:
        num_channels (int): Number of channels.
        eps (float): Added to the variance. Defaults to 1e-6.
    """

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        weight, bias = self.weight, self.bias
        if dtype in (torch.float16, torch.bfloat16):
            x, weight, bias = x.float(), weight.float(), bias.float()
        x = F.layer_norm(x.permute(0, 2, 3, 1), weight.shape, weight, bias,
                         self.eps)
        return x.permute(0, 3, 1, 2).to(dtype)

    def extra_repr(self) -> str:
        return f'{self.weight.numel()}, eps={self.eps}'


class _LinearOfRecomputed(torch.autograd.Function):
    """``F.linear(fn(*inputs), weight, bias)`` saving ``inputs``, not the
    output of ``fn`` (an element-wise op), which backward recomputes."""

    @staticmethod
    def forward(ctx, fn, weight, bias, *inputs):
        ctx.fn = fn
        # backward recomputes under the forward's autocast state
        ctx.autocast = autocast_state(weight.device.type)
        ctx.save_for_backward(weight, *inputs)
        return F.linear(fn(*inputs), weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        weight, *inputs = ctx.saved_tensors
        needs = ctx.needs_input_grad
        # as custom_bwd does: the forward's autocast state, so that the
        # recomputation and the matmuls see the forward's casts
        with autocast_like(ctx.autocast):
            with torch.enable_grad():
                inputs = [t.detach().requires_grad_(n)
                          for t, n in zip(inputs, needs[3:])]
                act = ctx.fn(*inputs)
            flat = grad.reshape(-1, grad.shape[-1])
            grad_weight = flat.t().mm(act.reshape(flat.shape[0], -1)) \
                if needs[1] else None
            grad_bias = flat.sum(0) if needs[2] else None
            grad_act = grad.matmul(weight).to(act.dtype)
            wanted = [t for t in inputs if t.requires_grad]
            grads = iter(torch.autograd.grad(act, wanted, grad_act)
                         if wanted else ())
        return (None, grad_weight, grad_bias,
                *(next(grads) if n else None for n in needs[3:]))


def linear_of_recomputed(fn: Callable[..., Tensor],
                         inputs: Sequence[Tensor], weight: Tensor,
                         bias: Optional[Tensor] = None) -> Tensor:
    """``F.linear(fn(*inputs), weight, bias)`` over the last dim, where
    ``fn`` is element-wise (a gate, an activation): in training, autograd
    keeps ``inputs`` (kept anyway) instead of ``fn``'s output, which is
    recomputed in backward, so the activation is not stored twice.

    Args:
        fn (Callable): Element-wise function of ``inputs``.
        inputs (Sequence[Tensor]): Its inputs, channels last.
        weight (Tensor): Linear weight ``(out, in)``.
        bias (Tensor, optional): Linear bias. Defaults to None.

    Returns:
        Tensor: ``F.linear(fn(*inputs), weight, bias)``.
    """
    if records_grad(weight, bias, *inputs):
        return _LinearOfRecomputed.apply(fn, weight, bias, *inputs)
    return F.linear(fn(*inputs), weight, bias)


@MODELS.register_module()
class GlobalLocalFilter(nn.Module):
    """The "GF" depthwise mixer: half local 3x3, half global FFT filter.

    The first half of the channels goes through a 3x3 depthwise conv, the
    second half is multiplied in the frequency domain by a learnable complex
    filter (a global circular convolution). The two halves are interleaved
    (``out[:, 2i]`` local, ``out[:, 2i + 1]`` global) between two
    LayerNorms. The filter is stored for a ``h x w`` rfft grid and resized to
    the grid of any input at run time, so any size (odd, non-square) works.
    The FFT branch runs with autocast off in float32, or in float64 for a
    float64 input (the official code always casts to float32), and is cast
    back to the input dtype.

    Args:
        dim (int): Number of input (and output) channels; must be even.
        h (int): Height of the stored filter. Defaults to 14.
        w (int): Width of the stored filter (``W // 2 + 1`` of the feature
            map it was trained on). Defaults to 8.
        kernel_size (int): Kernel of the local depthwise conv.
            Defaults to 3.
    """

    def __init__(self, dim: int, h: int = 14, w: int = 8,
                 kernel_size: int = 3) -> None:
        super().__init__()
        if dim % 2:
            raise ValueError(f'GlobalLocalFilter needs an even dim, got {dim}')
        self.dw = nn.Conv2d(dim // 2, dim // 2, kernel_size,
                            padding=kernel_size // 2, bias=False,
                            groups=dim // 2)
        self.complex_weight = nn.Parameter(
            torch.empty(dim // 2, h, w, 2, dtype=torch.float32))
        nn.init.trunc_normal_(self.complex_weight, std=.02, a=-2., b=2.)
        self.pre_norm = LayerNorm2d(dim)
        self.post_norm = LayerNorm2d(dim)

    def global_filter(self, x: Tensor) -> Tensor:
        """Filter ``x`` (B, C, H, W) in the frequency domain, in float32 or
        (for a float64 ``x``) float64."""
        dtype = _fft_dtype(x.dtype)
        device = x.device.type  # 'meta' (shape inference) has no autocast
        with torch.autocast(device, enabled=False) \
                if torch.amp.is_autocast_available(device) else nullcontext():
            H, W = x.shape[-2:]
            weight = adapt_complex_weight(self.complex_weight,
                                          (H, W // 2 + 1)).to(dtype)
            if torch.compiler.is_exporting():
                out = dft_global_filter(x.to(dtype), weight)
            else:
                freq = torch.fft.rfft2(x.to(dtype), dim=(2, 3), norm='ortho')
                freq = freq * torch.view_as_complex(weight.contiguous())
                out = torch.fft.irfft2(freq, s=(H, W), dim=(2, 3),
                                       norm='ortho')
        return out.to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if records_grad(x):
            # No matmul inside: recomputing the filter in backward costs
            # less than keeping its norms' inputs, the 3x3 conv's input and
            # the spectra (about 5x its input).
            return checkpoint(self._filter, x, use_reentrant=False)
        return self._filter(x)

    def _filter(self, x: Tensor) -> Tensor:
        x = self.pre_norm(x)
        local, glob = torch.chunk(x, 2, dim=1)
        local = self.dw(local)
        glob = self.global_filter(glob).to(local.dtype)
        B, C, H, W = local.shape
        x = torch.stack([local, glob], dim=2).reshape(B, 2 * C, H, W)
        return self.post_norm(x)


@MODELS.register_module()
class GnConv(nn.Module):
    """gnConv: recursive gated convolution of order ``n``.

    ``proj_in`` maps the input to ``2 * dim`` channels, split into ``p0``
    (the smallest width) and the rest; one depthwise mixer (7x7 conv or
    :class:`GlobalLocalFilter`) runs on the rest, its output scaled by
    ``scale`` and split into ascending widths ``dims = [dim / 2^(n-1), ...,
    dim / 2, dim]``; then ``x = p0 * q0`` and ``x = pws[i](x) * q[i + 1]``
    recursively, and ``proj_out`` maps ``dim`` to ``out_channels``.

    Args:
        in_channels (int): Number of input channels.
        out_channels (int, optional): Number of output channels. Defaults to
            None, i.e. ``in_channels``.
        order (int): Interaction order ``n``. Defaults to 5.
        dim_ratio (int): Width of the gated features as a multiple of
            ``out_channels``. Defaults to 1.
        kernel_size (int): Kernel of the depthwise conv when no global
            filter is used. Defaults to 7.
        gf_size (Sequence[int], optional): ``(h, w)`` of a
            :class:`GlobalLocalFilter` replacing the depthwise conv.
            Defaults to None (depthwise conv).
        scale (float): Multiplies the depthwise output (the HorNet backbone
            uses 1/3, HorFPN 1). Defaults to 1.0.
        proj_out (bool): Whether to end with a 1x1 conv; if False the output
            has ``dim`` channels. Defaults to True.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 order: int = 5,
                 dim_ratio: int = 1,
                 kernel_size: int = 7,
                 gf_size: Optional[Sequence[int]] = None,
                 scale: float = 1.0,
                 proj_out: bool = True) -> None:
        super().__init__()
        out_channels = out_channels or in_channels
        dim = out_channels * dim_ratio
        if order < 1 or dim % 2**(order - 1):
            raise ValueError(f'gnConv of order {order} needs a width '
                             f'divisible by {2**(order - 1)}, got {dim}')
        if not proj_out and dim != out_channels:
            raise ValueError('proj_out=False needs dim_ratio=1')
        self.order = order
        self.dims = [dim // 2**i for i in range(order)][::-1]
        self.scale = scale
        self.proj_in = nn.Conv2d(in_channels, 2 * dim, 1)
        if gf_size is None:
            self.dwconv = nn.Conv2d(
                sum(self.dims), sum(self.dims), kernel_size,
                padding=(kernel_size - 1) // 2, groups=sum(self.dims))
        else:
            h, w = gf_size
            self.dwconv = GlobalLocalFilter(sum(self.dims), h=h, w=w)
        self.proj_out = nn.Conv2d(dim, out_channels, 1) if proj_out \
            else nn.Identity()
        self.pws = nn.ModuleList(
            nn.Conv2d(self.dims[i], self.dims[i + 1], 1)
            for i in range(order - 1))

    def forward(self, x: Tensor,
                layer_scale: Optional[Tensor] = None) -> Tensor:
        """Apply the gnConv.

        Args:
            x (Tensor): Input of shape ``(N, in_channels, H, W)``.
            layer_scale (Tensor, optional): Per-channel scale of the output
                (the HorNet block's ``gamma1``), folded into ``proj_out``'s
                weights. Defaults to None.

        Returns:
            Tensor: Output of shape ``(N, out_channels, H, W)``.
        """
        x = self.proj_in(x)
        pwa, abc = torch.split(x, (self.dims[0], sum(self.dims)), dim=1)
        dw_list = torch.split(self.dwconv(abc) * self.scale, self.dims, dim=1)
        x = pwa
        for pw, dw in zip(self.pws, dw_list):
            x = self._gated_pw(x, dw, pw)
        if isinstance(self.proj_out, nn.Identity):
            x = x * dw_list[-1]
            return x if layer_scale is None else \
                x * layer_scale.view(-1, 1, 1)
        return self._gated_pw(x, dw_list[-1], self.proj_out, layer_scale)

    @staticmethod
    def _gated_pw(x: Tensor, gate: Tensor, conv: nn.Conv2d,
                  scale: Optional[Tensor] = None) -> Tensor:
        """``conv(x * gate)`` for a 1x1 ``conv`` whose output channels are
        multiplied by ``scale``; the product is recomputed in backward."""
        weight, bias = conv.weight.flatten(1), conv.bias
        if scale is not None:
            weight = scale[:, None] * weight
            bias = None if bias is None else scale * bias
        x = linear_of_recomputed(torch.mul, (x.permute(0, 2, 3, 1),
                                             gate.permute(0, 2, 3, 1)),
                                 weight, bias)
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f'order={self.order}, dims={self.dims}, scale={self.scale:.4g}'


@MODELS.register_module()
class GnConvModule(GnConv):
    """A :class:`GnConv` followed by an optional norm and activation.

    The HorFPN building block (official ``GNConvModule``): unlike the
    backbone's gnConv it has no scale, and its input width may differ from
    its output width. The norm and activation are built with mmcv (needed
    only when they are configured) and named as mmcv's ``ConvModule`` names
    them (e.g. ``bn``), so official HorFPN checkpoints load as they are.

    Args:
        in_channels (int): Number of input channels.
        out_channels (int): Number of output channels.
        norm_cfg (dict, optional): Norm after the gnConv. Defaults to None.
        act_cfg (dict, optional): Activation after the norm.
            Defaults to None.
        **kwargs: Other :class:`GnConv` arguments (``order``,
            ``kernel_size``, ``gf_size``, ``proj_out``, ``dim_ratio``).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(in_channels, out_channels, **kwargs)
        self.norm_name = None
        self.activate = None
        if norm_cfg is not None or act_cfg is not None:
            from mmcv.cnn import build_activation_layer, build_norm_layer
            if norm_cfg is not None:
                self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
                self.add_module(self.norm_name, norm)
            if act_cfg is not None:
                self.activate = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.activate is not None:
            x = self.activate(x)
        return x
