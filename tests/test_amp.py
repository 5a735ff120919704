"""Mixed precision, dtypes and devices: every registered backbone, HorFPN
and GNUPerHead, on CPU.

On a GPU, ``--amp`` is fp16 autocast with loss scaling;
``tools/misc/gpu_check.py`` runs that there. Here, on any CPU:

- fp16 and bf16 autocast (CPU autocast: the same casting rules for the
  convs, linears, matmuls and fused attention): forward + backward, finite,
  close to float32. Tolerances, measured on the tiny archs with >= 2.5x
  margin (eval mode: train-mode BatchNorm over a 2x2 last stage amplifies
  rounding at this size, not at detection sizes; train mode is checked
  for finiteness):

  ========  ==========================  ============================
  autocast  outputs: max|d| / max|ref|  gradients: ||d|| / ||ref||
  ========  ==========================  ============================
  float16   1e-2 (seen <= 2.7e-3)       1e-1 (seen <= 3.9e-2)
  bfloat16  5e-2 (seen <= 2.6e-2)       2e-1 (seen <= 7.8e-2)
  ========  ==========================  ============================

  SG-Former's SG blocks sort tokens by significance, and rounding reorders
  near ties (most tokens are near ties at random init), a discontinuity
  no tolerance covers: each SG block gets the significance of the float32
  pass, and the significance itself is compared (within the output
  tolerance). The global filter's FFTs must run in float32.
- ``model.half()``: outputs and gradients in float16, and every
  ``scaled_dot_product_attention`` call has what CUDA's fused kernels need
  (4-D q/k/v with d at stride 1, d and storage offsets multiples of 8, a
  bool mask or one in the query's dtype) and runs CPU's fused kernel
  (except with a learned bias, which only CUDA's fused kernels take).
- Devices: on the meta device, every tensor touched in forward and backward
  is on the input's device (nothing built on the CPU at run time).
"""
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS
from tests.test_models.test_backbone_contract import TINY

#: the contract's tiny archs, SG-Former with 8-channel heads (its tiny arch
#: has 4), plus ViT-LSLA's fused-attention ablation
CASES = {name: dict(type=name, **kwargs) for name, kwargs in TINY.items()
         if name != 'ExampleBackbone'}
CASES['SGFormer'] = dict(
    type='SGFormer', drop_path_rate=0.,
    arch=dict(embed_dims=[16, 32, 32, 32], num_heads=[2, 4, 4, 4],
              depths=[2, 2, 2, 1]))
CASES['ViTLSLA-fused'] = dict(CASES['ViTLSLA'], scale_mode='fixed',
                              outer_bias=False)
HEADS = {
    'HorFPN': dict(type='HorFPN', in_channels=[8, 16, 32, 64],
                   out_channels=16, num_outs=5),
    'HorFPN-GF': dict(type='HorFPN', in_channels=[8, 16, 32, 64],
                      out_channels=16, num_outs=5,
                      gnconv_cfg=dict(order=2, gf_size=(8, 5))),
    'GNUPerHead': dict(type='GNUPerHead', in_channels=[8, 16, 32, 64],
                       in_index=[0, 1, 2, 3], channels=16, num_classes=3,
                       norm_cfg=dict(type='BN')),
    'GNUPerHead-GF': dict(type='GNUPerHead',
                          in_channels=[8, 16, 32, 64], in_index=[0, 1, 2, 3],
                          channels=16, num_classes=3, norm_cfg=dict(type='BN'),
                          gnconv_cfg=dict(order=2, gf_size=(8, 5))),
}
#: (outputs, gradients) tolerances of the module docstring
TOL = {torch.float16: (1e-2, 1e-1), torch.bfloat16: (5e-2, 2e-1)}
#: padded windows and shifted windows at every Swin-style stage 1
SIZE = (32, 40)


def build(name):
    torch.manual_seed(0)
    if name in HEADS:
        scope = 'mmdet' if 'FPN' in name else 'mmseg'
        pytest.importorskip(f'{scope}.models')
        return MODELS.build(HEADS[name])
    return MODELS.build(CASES[name])


def make_input(name, dtype=torch.float32, device='cpu'):
    g = torch.Generator().manual_seed(0)
    if name in HEADS:
        x = [torch.rand(2, c, 32 // s, 44 // s, generator=g)
             for c, s in zip([8, 16, 32, 64], [1, 2, 4, 8])]
    else:
        x = torch.rand(1, 3, *SIZE, generator=g)
    return tree_map_tensors(lambda t: t.to(device, dtype), x)


def tree_map_tensors(fn, x):
    return [fn(t) for t in x] if isinstance(x, list) else fn(x)


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def sg_blocks(model):
    return [m for m in model.modules() if getattr(m, 'mode', None) == 'sg']


def run(model, x, autocast_dtype=None, significance=None):
    """Forward + backward of a fixed random projection of the outputs;
    returns the outputs (float32), the flat gradient and the significance
    maps the SG blocks received (pinned to ``significance`` if given)."""
    seen, hooks = {}, []
    for block in sg_blocks(model):
        def hook(mod, args):
            seen[mod] = args[2].float()
            if significance is not None:
                return args[:2] + (significance[mod], )
        hooks.append(block.register_forward_pre_hook(hook))
    torch.manual_seed(0)
    with torch.autocast('cpu', dtype=autocast_dtype or torch.bfloat16,
                        enabled=autocast_dtype is not None):
        outs = as_list(model(x))
    g = torch.Generator().manual_seed(1)
    sum((o.float() * torch.randn(o.shape, generator=g)).sum()
        for o in outs).backward()
    for h in hooks:
        h.remove()
    grad = torch.cat([p.grad.float().flatten()
                      for p in model.parameters() if p.grad is not None])
    model.zero_grad(set_to_none=True)
    return [o.detach().float() for o in outs], grad, seen


def rel_max(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


ALL = sorted(CASES) + sorted(HEADS)
#: the autocast comparison skips variants whose ops another case covers
#: (HAT-Net's paper mode, LSLA's fused ablation, the 7x7 neck and head)
AUTOCAST = [n for n in ALL if n not in ('mmhybrid.HATNet', 'ViTLSLA-fused',
                                        'HorFPN', 'GNUPerHead')]
#: the cases with HorNet's global filter
GF = ('mmhybrid.HorNet', 'HorFPN-GF', 'GNUPerHead-GF')
#: torch 2.14's CPU flash attention runs bf16/fp16 with gradients only with
#: AVX-512 ("pack_vnni2 is only supported when avx512 is supported", e.g.
#: ATEN_CPU_CAPABILITY=default); there the autocast passes take SDPA's math
#: kernel (the CUDA kernels are not affected)
AMP_SDPA = [] if 'AVX512' in torch.backends.cpu.get_cpu_capability() \
    else [SDPBackend.MATH]


def amp_sdpa():
    return sdpa_kernel(AMP_SDPA) if AMP_SDPA else nullcontext()


class FFTDtypes(TorchDispatchMode):
    """Records the input dtype of every FFT op."""

    def __init__(self):
        super().__init__()
        self.dtypes = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if 'fft' in str(func):
            self.dtypes.add(args[0].dtype)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('name', AUTOCAST)
def test_autocast_close_to_fp32(name):
    """fp16 and bf16 autocast against float32 (eval mode), then fp16 in
    train mode; the global filter's FFTs stay in float32 (as in the
    official det/seg code; cuFFT's half FFTs take powers of two only,
    HorNet#25)."""
    model = build(name).eval()
    x = make_input(name)
    ref, ref_grad, sig = run(model, x)
    for dtype, (tol_out, tol_grad) in TOL.items():
        with FFTDtypes() as ffts, amp_sdpa():
            outs, grad, amp_sig = run(model, x, dtype, significance=sig)
        assert ffts.dtypes == ({torch.float32, torch.complex64} if name in GF
                               else set()), ffts.dtypes
        for out, r in zip(outs, ref):
            assert torch.isfinite(out).all()
            assert rel_max(out, r) <= tol_out, (dtype, rel_max(out, r))
        assert torch.isfinite(grad).all()
        assert grad.shape == ref_grad.shape  # every parameter got one
        err = ((grad - ref_grad).norm() / ref_grad.norm()).item()
        assert err <= tol_grad, (dtype, err)
        for block in sig:  # only the ranking of near ties may differ
            assert rel_max(amp_sig[block], sig[block]) <= tol_out
    with amp_sdpa():
        outs, grad, _ = run(model.train(), x, torch.float16)
    assert all(torch.isfinite(o).all() for o in outs)
    assert torch.isfinite(grad).all()


def check_fused_sdpa_layout(q, k, v, attn_mask=None, *args, **kwargs):
    """What CUDA's flash / memory-efficient kernels need, else SDPA falls
    back to the math kernel (torch's ``sdp_utils.cpp``, fp16 on sm80+)."""
    assert q.dim() == k.dim() == v.dim() == 4, [q.shape, k.shape, v.shape]
    assert q.shape[:2] == k.shape[:2] == v.shape[:2], [q.shape, k.shape]
    assert k.shape[2] == v.shape[2] and min(q.shape[2], k.shape[2]) > 0
    assert q.shape[-1] == k.shape[-1]
    for t in (q, k, v):
        assert t.stride(-1) == 1, t.stride()
        assert t.shape[-1] % 8 == 0 and t.storage_offset() % 8 == 0, \
            (t.shape, t.storage_offset())
    if attn_mask is not None:
        assert attn_mask.dtype in (torch.bool, q.dtype), attn_mask.dtype
        assert attn_mask.dim() <= 4
        torch.broadcast_shapes(attn_mask.shape, q.shape[:3] + k.shape[2:3])


@pytest.mark.parametrize('name', ALL)
def test_half_model(name, monkeypatch):
    """``model.half()``: float16 all through; every
    scaled_dot_product_attention call has CUDA's fused-kernel layout and
    runs CPU's fused kernel (the math fallback is switched off)."""
    calls = []
    sdpa = F.scaled_dot_product_attention

    def checked(*args, **kwargs):
        check_fused_sdpa_layout(*args, **kwargs)
        calls.append(args[0].shape)
        mask = args[3] if len(args) > 3 else kwargs.get('attn_mask')
        # a learned bias (LSLA's inner bias) needs CUDA's memory-efficient
        # kernel: CPU's fused kernel has no mask gradient
        learned = mask is not None and mask.requires_grad
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION] +
                         [SDPBackend.MATH] * learned):
            return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', checked)
    model = build(name).half().eval()
    outs = as_list(model(make_input(name, torch.float16)))
    assert all(o.dtype == torch.float16 and torch.isfinite(o).all()
               for o in outs)
    sum(o.float().sum() for o in outs).backward()
    for p in model.parameters():
        assert p.grad is None or (p.grad.dtype == torch.float16
                                  and torch.isfinite(p.grad).all())
    uses_sdpa = name.split('.')[-1] in ('HATNet', 'TransCNN', 'SGFormer',
                                        'ViTLSLA-fused')
    assert bool(calls) == uses_sdpa, calls


class DeviceAudit(TorchDispatchMode):
    """Records every op that touches a non-scalar tensor off ``device``."""

    def __init__(self, device):
        super().__init__()
        self.device, self.stray = device, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor) and t.dim() and \
                    t.device.type != self.device:
                self.stray.append(f'{func}: {t.device} {tuple(t.shape)}')
        return out


@pytest.mark.parametrize('name', ALL)
def test_runtime_tensors_on_input_device(name):
    """On the meta device nothing can hide: a mask, index or grid built on
    the CPU at run time (a hard-coded device) shows up here."""
    model = build(name).train().to('meta')
    x = make_input(name, device='meta')
    with DeviceAudit('meta') as audit:
        outs = as_list(model(x))
        sum(o.float().mean() for o in outs).backward()
    assert all(o.device.type == 'meta' for o in outs)
    assert not audit.stray, audit.stray[:5]
