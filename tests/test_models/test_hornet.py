"""HorNet, gnConv, HorFPN and GNUPerHead beyond the backbone contract.

Parity tests compare with float64 outputs of the official code stored in
``tests/data/hornet`` (see its README for how they were produced): in
float64 to ``FP64_TOL``, and once per family in float32 to a stated multiple
of the official model's own float32 error.
"""
import os.path as osp
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import mmhybrid  # noqa: F401
from mmhybrid.engine import LayerDecayOptimWrapperConstructor
from mmhybrid.models import HorNet
from mmhybrid.models.backbones.hornet import HorNetBlock
from mmhybrid.models.layers import (GlobalLocalFilter, GnConv,
                                    adapt_complex_weight, linear_of_recomputed)
from mmhybrid.models.utils import load_state_dict_report
from mmhybrid.registry import MODELS

DATA = osp.join(osp.dirname(__file__), '..', 'data', 'hornet')
#: the fixtures' config (official det HorNet, depths [1, 1, 2, 1], base 4)
TINY = dict(base_dim=4, depths=[1, 1, 2, 1], orders=[2, 3, 4, 5])
GF_224 = [None, None, (14, 8), (7, 4)]
GF_384 = [None, None, (24, 13), (12, 7)]
#: parameters of the official classification models (1000-class head),
#: counted by instantiating raoyongming/HorNet@ac9e210 ``hornet.py``.
OFFICIAL_PARAMS = {
    't': 22_409_512, 't-gf': 22_991_848, 's': 49_528_264,
    's-gf': 50_401_768, 'b': 87_256_680, 'b-gf': 88_421_352,
    'b-gf384': 92_099_560, 'l': 194_542_504, 'l-gf': 196_289_512,
    'l-gf384': 201_806_824,
}
ALIASES = {'t': 'tiny', 't-gf': 'tiny-gf', 's': 'small', 's-gf': 'small-gf',
           'b': 'base', 'b-gf': 'base-gf', 'b-gf384': 'base-gf384',
           'l': 'large', 'l-gf': 'large-gf', 'l-gf384': 'large-gf384'}


#: float64 parity: ours vs the official model, both run in float64
FP64_TOL = 1e-10
#: float32 parity: ours in float32 vs the official float64 outputs, within
#: this multiple of the official model's own float32-vs-float64 error
#: (the fixtures' ``fp32_error``; README: "Conditioning and tolerances")
FP32_FACTOR = 10


def load(name):
    return torch.load(osp.join(DATA, name), weights_only=True)


def max_diff(a, b):
    return (a.double() - b.double()).abs().max().item()


def inputs(dtype=torch.float64):
    return {size: x.to(dtype) for size, x in load('inputs.pt').items()}


def cast(state_dict, dtype=torch.float64):
    return {k: v.to(dtype) if v.is_floating_point() else v
            for k, v in state_dict.items()}


# ------------------------------------------------------------ variants ----
def test_arch_zoo_keys():
    assert set(HorNet.arch_zoo) == set(ALIASES) | set(ALIASES.values())
    for short, long in ALIASES.items():
        assert HorNet.arch_zoo[short] is HorNet.arch_zoo[long]


@pytest.mark.parametrize('arch', sorted(OFFICIAL_PARAMS))
def test_param_counts_match_official(arch):
    with torch.device('meta'):
        model = HorNet(arch=arch)
    backbone = sum(p.numel() for n, p in model.named_parameters()
                   if not n.startswith('norm'))
    c = model.stage_channels[-1]
    classifier = 2 * c + 1000 * c + 1000  # official final LayerNorm + head
    assert backbone + classifier == OFFICIAL_PARAMS[arch]
    assert model.out_channels == [c // 8, c // 4, c // 2, c]


def test_gf_shapes_and_overrides():
    with torch.device('meta'):
        tgf = HorNet(arch='tiny-gf')
        seg = HorNet(arch=dict(base='t-gf', gf_sizes=GF_384))
        l384 = HorNet(arch='l-gf384')
    sd = tgf.state_dict()
    assert sd['stages.2.0.gnconv.dwconv.complex_weight'].shape == \
        (240, 14, 8, 2)
    assert sd['stages.3.1.gnconv.dwconv.complex_weight'].shape == \
        (496, 7, 4, 2)
    assert 'stages.1.0.gnconv.dwconv.weight' in sd  # stages 0-1 stay 7x7
    sd = seg.state_dict()
    assert sd['stages.2.0.gnconv.dwconv.complex_weight'].shape == \
        (240, 24, 13, 2)
    assert sd['stages.3.0.gnconv.dwconv.complex_weight'].shape == \
        (496, 12, 7, 2)
    assert l384.state_dict()['stages.3.0.gnconv.dwconv.complex_weight'] \
        .shape == (1488, 12, 7, 2)


def test_invalid_archs():
    with pytest.raises(ValueError, match='valid keys'):
        HorNet(arch=dict(TINY, gf_size=GF_224))
    with pytest.raises(ValueError, match='per stage'):
        HorNet(arch=dict(TINY, orders=[2, 3]))
    with pytest.raises(ValueError, match='divisible'):
        HorNet(arch=dict(TINY, orders=[4, 3, 4, 5]))


def test_drop_path_and_layer_scale():
    model = HorNet(arch=TINY, drop_path_rate=0.4)
    rates = [getattr(b.drop_path, 'drop_prob', 0.) for s in model.stages
             for b in s]
    assert rates == pytest.approx([0., 0.1, 0.2, 0.3, 0.4])
    model = HorNet(arch=TINY, layer_scale_init_value=0)
    assert not any('gamma' in k for k in model.state_dict())
    model(torch.rand(1, 3, 32, 32))


def test_default_init_is_official():
    model = HorNet(arch=dict(TINY, gf_sizes=GF_224))
    model.init_weights()
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            assert m.weight.abs().max() <= 2 and \
                0.01 < m.weight.std() < 0.03, name
            assert m.bias is None or not m.bias.any(), name
    sd = model.state_dict()
    assert torch.equal(sd['stages.0.0.gamma1'], torch.full((4, ), 1e-6))
    assert torch.equal(sd['norm3.weight'], torch.ones(32))
    cw = sd['stages.2.0.gnconv.dwconv.complex_weight']
    assert 0.01 < cw.std() < 0.03


# --------------------------------------------------------------- gnConv ----
def test_gnconv_widths_and_scale():
    g = GnConv(64, order=4, scale=1 / 3)
    assert g.dims == [8, 16, 32, 64]  # ascending; the smallest starts
    assert g.proj_in.out_channels == 128 and g.dwconv.in_channels == 120
    assert [tuple(p.weight.shape[:2]) for p in g.pws] == \
        [(16, 8), (32, 16), (64, 32)]
    # the scale multiplies the whole depthwise output
    ref = GnConv(64, order=4)
    ref.load_state_dict(g.state_dict())
    with torch.no_grad():
        ref.dwconv.weight.mul_(1 / 3)
        ref.dwconv.bias.mul_(1 / 3)
    x = torch.randn(1, 64, 9, 11)
    torch.testing.assert_close(g(x), ref(x))
    # HorFPN flavour: other input width, no proj_out
    assert GnConv(12, 8, order=2, proj_out=False)(
        torch.randn(1, 12, 5, 7)).shape == (1, 8, 5, 7)
    with pytest.raises(ValueError, match='dim_ratio'):
        GnConv(8, 8, dim_ratio=2, proj_out=False)


@pytest.mark.parametrize('size', [(14, 14), (13, 19), (24, 33), (7, 4),
                                  (1, 1)])
def test_gf_any_size(size):
    """A real constant filter is a multiplication at every size: checks
    the run-time resize and the odd-width inverse FFT."""
    gf = GlobalLocalFilter(8, h=14, w=8)
    scale = torch.rand(4) + 0.5
    with torch.no_grad():
        gf.complex_weight.zero_()
        gf.complex_weight[..., 0] = scale[:, None, None]
    x = torch.randn(2, 4, *size)
    torch.testing.assert_close(gf.global_filter(x), x * scale[:, None, None],
                               rtol=1e-5, atol=1e-5)
    y = gf(torch.randn(2, 8, *size))
    assert y.shape == (2, 8, *size) and torch.isfinite(y).all()


def test_adapt_complex_weight():
    w = torch.randn(3, 14, 8, 2)
    assert adapt_complex_weight(w, (14, 8)) is w
    r = adapt_complex_weight(w, (24, 13))
    assert r.shape == (3, 24, 13, 2)
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):  # align_corners
        torch.testing.assert_close(r[:, i, j], w[:, i, j])
    ramp = torch.linspace(0, 1, 8).expand(3, 14, 8)
    r = adapt_complex_weight(torch.stack([ramp, -ramp], -1), (5, 13))
    torch.testing.assert_close(r[0, 0, :, 0], torch.linspace(0, 1, 13))


def test_gf_fft_precision(monkeypatch):
    """The FFT runs in float32 under autocast and in bf16 models, and in
    float64 in float64 models (the official code casts to float32)."""
    seen = []
    for fn in ('rfft2', 'irfft2'):
        orig = getattr(torch.fft, fn)

        def spy(x, *args, _orig=orig, **kwargs):
            seen.append(x.dtype)
            return _orig(x, *args, **kwargs)

        monkeypatch.setattr(torch.fft, fn, spy)
    model = HorNet(arch=dict(TINY, gf_sizes=GF_224)).eval()
    x = torch.rand(1, 3, 100, 148)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = model(x)
    assert seen and set(seen) == {torch.float32, torch.complex64}
    for o, r in zip(outs, ref):
        assert torch.isfinite(o.float()).all()
        assert max_diff(o, r) < 0.5  # bf16 rounding only
    # a model cast to bf16 (no autocast) works too; the official one fails
    gf = GlobalLocalFilter(8).to(torch.bfloat16)
    seen.clear()
    assert gf(torch.randn(1, 8, 9, 10, dtype=torch.bfloat16)).dtype == \
        torch.bfloat16
    assert set(seen) == {torch.float32, torch.complex64}
    seen.clear()
    with torch.no_grad():
        outs = model.double()(x.double())
    assert set(seen) == {torch.float64, torch.complex128}
    assert all(o.dtype == torch.float64 for o in outs)


# ----------------------------------------------------- training memory ----
def saved_units(fn, x):
    """``fn(x)`` and what autograd keeps for its backward, in multiples of
    ``x``'s size (activations, deduplicated by storage; no parameters)."""
    params = set()
    if isinstance(fn, nn.Module):
        params = {p.untyped_storage().data_ptr() for p in fn.parameters()}
    storages = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(x)
    return out, sum(storages.values()) / (x.numel() * x.element_size())


@pytest.mark.parametrize('fn, num_inputs', [(torch.mul, 2), (nn.GELU(), 1)])
def test_linear_of_recomputed_matches_plain_ops(fn, num_inputs):
    """Same output and gradients as ``F.linear(fn(*inputs))`` (float64),
    with or without bias and input gradients; gradcheck."""
    torch.manual_seed(0)
    inputs = [torch.randn(2, 3, 5, 6, dtype=torch.float64,
                          requires_grad=True) for _ in range(num_inputs)]
    weight = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    for b, frozen in ((bias, False), (None, True)):
        args = [x.detach() if frozen and i == 0 else x
                for i, x in enumerate(inputs)]
        wanted = [t for t in (*args, weight, b)
                  if t is not None and t.requires_grad]
        ours = linear_of_recomputed(fn, args, weight, b)
        ref = F.linear(fn(*args), weight, b)
        assert torch.equal(ours, ref)
        for g, r in zip(torch.autograd.grad(ours, wanted, grad),
                        torch.autograd.grad(ref, wanted, grad)):
            torch.testing.assert_close(g, r, rtol=0, atol=1e-12)
    small = [x[:1, :2, :2].detach().requires_grad_() for x in inputs]
    assert torch.autograd.gradcheck(
        lambda w, b, *x: linear_of_recomputed(fn, x, w, b),
        (weight, bias, *small))


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_linear_of_recomputed_under_autocast(dtype):
    """Under autocast, the recomputed backward gives the plain ops'
    gradients (same casts, same matmuls)."""
    torch.manual_seed(0)
    x = torch.randn(2, 7, 8, requires_grad=True)
    w1, w2 = torch.randn(16, 8), torch.randn(8, 16, requires_grad=True)
    norm = nn.LayerNorm(16)
    grads = []
    for ours in (True, False):
        with torch.autocast('cpu', dtype=dtype):
            h = norm(F.linear(x, w1))  # float32 under autocast
            y = linear_of_recomputed(torch.mul, (h, h), w2) if ours else \
                F.linear(h * h, w2)
        assert y.dtype == dtype
        grads.append(torch.autograd.grad(y.float().square().sum(),
                                         (x, w2, norm.weight)))
    for g, r in zip(*grads):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, r, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize('order, gf_size', [(2, None), (5, (4, 3))])
def test_block_saved_activations(order, gf_size):
    """What a HorNet block keeps for backward, in multiples of its input:
    ``10 + 2 s - 2 ** (1 - order)`` with ``s = 2 - 2 ** (1 - order)`` the
    gated width (12.5 for order 2, 13.8 for order 5, GF or not), plus about
    0.4 of folded weights and per-pixel statistics at this size. The
    official formulation keeps 22 and 39 (configs/hornet/README.md)."""
    block = HorNetBlock(64, order=order, gf_size=gf_size)
    _, units = saved_units(block, torch.randn(1, 64, 32, 32) * 1)
    s = 2 - 2**(1 - order)
    assert units <= 10 + 2 * s - 2**(1 - order) + 0.4


@pytest.mark.parametrize('cfg', [
    dict(in_channels=8, order=3, gf_size=(4, 3), scale=1 / 3),
    dict(in_channels=8, order=2, kernel_size=3),
    dict(in_channels=12, out_channels=8, order=2, proj_out=False)])
def test_gnconv_gradcheck(cfg):
    """float64 gradients of the gated products, the folded layer scale and
    the checkpointed global filter, against finite differences."""
    torch.manual_seed(0)
    gnconv = GnConv(**cfg).double()
    names = ['proj_in.weight', 'pws.0.weight', 'proj_out.weight',
             'dwconv.complex_weight', 'dwconv.pre_norm.weight']
    params = dict(gnconv.named_parameters())
    names = [n for n in names if n in params]

    def fn(x, scale, *values):
        return torch.func.functional_call(
            gnconv, {**params, **dict(zip(names, values))}, (x, scale))

    x = torch.randn(1, cfg['in_channels'], 5, 6, dtype=torch.float64,
                    requires_grad=True)
    scale = torch.rand(8, dtype=torch.float64, requires_grad=True)
    values = [params[n].detach().clone().requires_grad_() for n in names]
    assert torch.autograd.gradcheck(fn, (x, scale, *values), fast_mode=True)


def test_block_gradcheck():
    """float64 gradients of a HorNet block (layer scales folded, GELU
    recomputed, global filter checkpointed) against finite differences."""
    torch.manual_seed(0)
    block = HorNetBlock(8, order=3, gf_size=(4, 3),
                        layer_scale_init_value=0.5).double()
    names = ['gamma1', 'gamma2', 'pwconv1.weight', 'pwconv2.weight',
             'pwconv2.bias', 'norm2.weight']
    params = dict(block.named_parameters())

    def fn(x, *values):
        return torch.func.functional_call(
            block, {**params, **dict(zip(names, values))}, (x, ))

    x = torch.randn(1, 8, 5, 6, dtype=torch.float64, requires_grad=True)
    values = [params[n].detach().clone().requires_grad_() for n in names]
    assert torch.autograd.gradcheck(fn, (x, *values), fast_mode=True)


def train_grads(model, x):
    """Outputs, and gradients of a fixed random projection of them, by
    name ('input' and every trainable parameter)."""
    x = x.clone().requires_grad_()
    outs = model(x)
    gen = torch.Generator().manual_seed(1)
    loss = sum((o.double() * torch.randn(o.shape, generator=gen,
                                         dtype=torch.float64)).sum()
               for o in outs)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    grads = torch.autograd.grad(loss, [x, *params.values()])
    return outs, dict(zip(['input', *params], grads))


def test_training_with_cp_and_channels_last():
    """with_cp (which checkpoints around the recomputing Functions and the
    checkpointed global filter) and a channels-last input give the same
    outputs and gradients (float64)."""
    torch.manual_seed(0)
    model = HorNet(arch=dict(TINY, gf_sizes=GF_224),
                   layer_scale_init_value=0.5).double().train()
    x = torch.randn(1, 3, 40, 56, dtype=torch.float64)
    ref_outs, ref = train_grads(model, x)
    cl_outs, cl = train_grads(
        model, x.contiguous(memory_format=torch.channels_last))
    model.with_cp = True
    cp_outs, cp = train_grads(model, x)
    for outs, grads in ((cl_outs, cl), (cp_outs, cp)):
        for o, r in zip(outs, ref_outs):
            assert o.is_contiguous() and torch.equal(o, r)
        assert grads.keys() == ref.keys()
        for k, g in grads.items():
            torch.testing.assert_close(g, ref[k], rtol=0, atol=1e-12,
                                       msg=k)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_training_under_autocast(dtype):
    """AMP training: float32 gradients for every parameter, within
    half-precision rounding of the float32 run's."""
    torch.manual_seed(0)
    model = HorNet(arch=dict(TINY, base_dim=16, gf_sizes=GF_224),
                   layer_scale_init_value=0.5).train()
    x = torch.randn(1, 3, 64, 64)
    _, ref = train_grads(model, x)
    with torch.autocast('cpu', dtype=dtype):
        outs, grads = train_grads(model, x)
    assert all(o.dtype == dtype for o in outs)
    for k, g in grads.items():
        assert g.dtype == torch.float32 and torch.isfinite(g).all(), k
        assert (g - ref[k]).norm() <= 0.1 * ref[k].norm(), k


# ----------------------------------------------------- official parity ----
def to_mmpretrain(state_dict):
    """The key map of mmpretrain's hornet2mmpretrain.py (spec 5.3)."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith('head.'):
            out['head.fc.' + key[5:]] = value
            continue
        key = re.sub(r'^norm\.', 'norm3.', key)
        key = key.replace('gnconv.pws', 'gnconv.projs')
        key = re.sub(r'(gamma[12])$', r'\1.weight', key)
        out['backbone.' + key] = value
    return out


def classification_layout(fx):
    """The official classifier's state dict: no norm0..3, norm/head."""
    cls = {k: v for k, v in fx['state_dict'].items()
           if not re.match(r'norm\d\.', k)}
    cls.update(fx['cls_extra'])
    return cls


def official_layouts():
    """Official det, official cls and mmpretrain state dicts of one model."""
    fx = load('hornet_gf.pt')
    cls = classification_layout(fx)
    return fx['state_dict'], cls, to_mmpretrain(cls)


def test_convert_official_layouts():
    det, cls, mmpretrain = official_layouts()
    own = HorNet(arch=dict(TINY, gf_sizes=GF_224)).state_dict()
    norms = {k for k in own if re.match(r'norm\d\.', k)}
    detector = {**{'backbone.' + k: v for k, v in det.items()},
                'neck.fpn_convs.0.conv.weight': torch.zeros(1),
                'roi_head.bbox_head.fc_cls.weight': torch.zeros(1)}
    converted = {}
    for name, sd in [('det', det), ('detector', detector), ('cls', cls),
                     ('mmpretrain', mmpretrain),
                     ('wrapped', {'model': cls})]:
        before = dict(sd)
        out = converted[name] = HorNet.convert_official(sd)
        assert sd == before, 'convert_official must not modify its input'
        again = HorNet.convert_official(out)
        assert again.keys() == out.keys() and all(
            again[k] is out[k] for k in out), f'{name}: not idempotent'
        expected = set(own) if name in ('det', 'detector') else \
            set(own) - norms
        assert set(out) == expected, name
        for k, v in out.items():
            assert v.shape == own[k].shape, k
    for name in ('mmpretrain', 'wrapped'):
        assert converted[name].keys() == converted['cls'].keys()
        assert all(torch.equal(converted[name][k], v)
                   for k, v in converted['cls'].items())


def build_backbone(variant, state_dict, gf_sizes=None,
                   dtype=torch.float64):
    """Our backbone with an official det state dict loaded, in ``dtype``
    (cast before loading, so a load-time resize runs in ``dtype`` too)."""
    if gf_sizes is None and variant == 'gf':
        gf_sizes = GF_224
    model = HorNet(arch=dict(TINY, gf_sizes=gf_sizes)).to(dtype).eval()
    report = load_state_dict_report(
        model, HorNet.convert_official(cast(state_dict, dtype)))
    assert not (report.missing or report.unexpected or report.mismatched)
    return model, report


@pytest.mark.parametrize('variant', ['7x7', 'gf'])
def test_parity_with_official_det_backbone(variant):
    fx = load(f'hornet_{variant}.pt')
    model, _ = build_backbone(variant, fx['state_dict'])
    with torch.no_grad():
        for size, x in inputs().items():
            outs = model(x)
            for i, (out, ref) in enumerate(zip(outs, fx['outputs'][size])):
                assert out.dtype == ref.dtype == torch.float64
                assert out.shape == ref.shape
                assert max_diff(out, ref) <= FP64_TOL, (variant, size, i)


@pytest.mark.parametrize('variant', ['7x7', 'gf'])
def test_parity_with_official_classifier(variant, tmp_path):
    """An official training checkpoint ({'model': ...}, DDP prefix) loads
    through init_cfg; GAP + the checkpoint's norm/head give its logits."""
    fx = load(f'hornet_{variant}.pt')
    cls = classification_layout(fx)
    path = str(tmp_path / 'official.pth')
    torch.save({'model': {'module.' + k: v for k, v in cls.items()},
                'epoch': 300}, path)
    gf_sizes = GF_224 if variant == 'gf' else None
    model = HorNet(arch=dict(TINY, gf_sizes=gf_sizes), out_indices=3,
                   init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    model.double().eval()
    extra = cast(fx['cls_extra'])
    with torch.no_grad():
        for size, x in inputs().items():
            x = model.forward_stem(x)
            for i in range(4):
                x, _ = model.forward_stage(i, x)
            feat = F.layer_norm(x.mean((2, 3)), (x.shape[1], ),
                                extra['norm.weight'], extra['norm.bias'],
                                1e-6)
            logits = F.linear(feat, extra['head.weight'], extra['head.bias'])
            assert max_diff(logits, fx['logits'][size]) <= FP64_TOL, size


def test_parity_gf_resized_at_load_time():
    """Official segmentation: (14, 8)/(7, 4) filters loaded into a model
    configured with (24, 13)/(12, 7), then resized again at run time."""
    fx = load('hornet_gf.pt')
    model, report = build_backbone('gf', fx['state_dict'], GF_384)
    assert report.resized == sorted(
        k for k in model.state_dict() if k.endswith('complex_weight'))
    with torch.no_grad():
        for size, x in inputs().items():
            outs = model(x)
            for out, ref in zip(outs, fx['outputs_gf384'][size]):
                assert max_diff(out, ref) <= FP64_TOL, size


def test_fixture_branches_matter():
    """The fixture's weights make every branch visible: without the global
    filters, the gnConvs or the MLPs the outputs move far beyond any
    tolerance here (see the README)."""
    fx = load('hornet_gf.pt')
    x = inputs()['192x288']
    refs = fx['outputs']['192x288']
    for pattern in (r'complex_weight$', r'gamma1$', r'gamma2$'):
        sd = {k: torch.zeros_like(v) if re.search(pattern, k) else v
              for k, v in fx['state_dict'].items()}
        model, _ = build_backbone('gf', sd)
        with torch.no_grad():
            outs = model(x)
        assert max(max_diff(o, r) for o, r in zip(outs, refs)) > 0.1, \
            pattern


def as_list(outs):
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


def fp32_runs(case):
    """(our float32 outputs, float64 references, official float32 error)
    of one fixture case, per input."""
    if case == 'hornet_gf':
        fx = load('hornet_gf.pt')
        model, _ = build_backbone('gf', fx['state_dict'], dtype=torch.float32)
        for size, x in inputs(torch.float32).items():
            yield (model(x), fx['outputs'][size],
                   fx['fp32_error']['outputs'][size])
    else:
        kind = case[:-len('_gf')]
        fx = load(f'{kind}.pt')
        module = build_neck(kind, 'gf', fx[case], dtype=torch.float32)
        yield (module([x.float() for x in fx['inputs']]),
               fx[case]['outputs'], fx[case]['fp32_error'])


@pytest.mark.parametrize('case', ['hornet_gf', 'gnfpn_gf', 'gn_uper_head_gf'])
def test_fp32_parity_within_official_rounding(case):
    """What users run: float32, compared with the official float64 outputs
    within FP32_FACTOR times the official float32 model's own error."""
    with torch.no_grad():
        for outs, refs, official_error in fp32_runs(case):
            outs, refs = as_list(outs), as_list(refs)
            assert all(o.dtype == torch.float32 for o in outs)
            err = max(max_diff(o, r) for o, r in zip(outs, refs))
            assert err <= FP32_FACTOR * official_error, (err, official_error)


# ------------------------------------------------------------ LR decay ----
def official_layer_id(name, decay_type):
    """Spec 6.3: the official HorNet det/seg constructor, num_layers=12."""
    parts = name.split('.')
    if parts[0] in ('stem', 'downsample_layers'):
        stage = 0 if parts[0] == 'stem' else int(parts[1])
        return 0 if decay_type == 'stage_wise' else \
            {0: 0, 1: 2, 2: 3, 3: 12}[stage]
    if parts[0] == 'stages':
        stage, block = int(parts[1]), int(parts[2])
        return stage + 1 if decay_type == 'stage_wise' else \
            {0: 1, 1: 2, 2: min(3 + block // 2, 11), 3: 12}[stage]
    return 13  # norm0..3, neck, heads


@pytest.mark.parametrize('decay_type', ['layer_wise', 'stage_wise'])
def test_layer_depth_matches_official(decay_type):
    with torch.device('meta'):
        model = HorNet(arch='t-gf')
    ids = set()
    for name, _ in model.named_parameters():
        assert model.get_layer_depth(name, decay_type, 12) == \
            (official_layer_id(name, decay_type), 14), name
        ids.add(official_layer_id(name, decay_type))
    assert ids == (set(range(14)) if decay_type == 'layer_wise' else
                   {0, 1, 2, 3, 4, 13})


def test_layer_decay_lr_scales():
    """HorNet-T depths (tiny widths) in a detector-like wrapper: the group
    scales of the official det recipe (layer-wise, 0.7, 12 layers)."""
    model = nn.Module()
    model.backbone = HorNet(arch=dict(base_dim=4, depths=[2, 3, 18, 2],
                                      orders=[2, 3, 4, 5]))
    model.neck = nn.Conv2d(4, 4, 1)
    constructor = LayerDecayOptimWrapperConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1., weight_decay=0.05)),
        dict(decay_rate=0.7, decay_type='layer_wise', num_layers=12))
    optimizer = constructor(model).optimizer
    checked = 0
    for group in optimizer.param_groups:
        for name in group['param_names']:
            expected = 0.7**(13 - official_layer_id(
                name[len('backbone.'):] if name.startswith('backbone.')
                else name, 'layer_wise'))
            assert group['lr'] == pytest.approx(expected), name
            checked += 1
    assert checked == len(list(model.parameters()))
    by_name = {n: g['lr'] for g in optimizer.param_groups
               for n in g['param_names']}
    assert by_name['backbone.stem.0.weight'] == pytest.approx(0.7**13)
    assert by_name['backbone.stages.2.17.pwconv1.weight'] == \
        pytest.approx(0.49)


# ---------------------------------------------------- HorFPN / GNUPerHead --
GNCONV_CFGS = {'7x7': dict(order=2, kernel_size=7, proj_out=True),
               'gf': dict(order=2, gf_size=(8, 5), proj_out=True)}


def build_neck(kind, variant, fx, dtype=torch.float64):
    """HorFPN / GNUPerHead built the way an mmdet / mmseg config builds it,
    with the official weights of ``fx``, in eval mode and ``dtype``."""
    if kind == 'gnfpn':
        pytest.importorskip('mmdet.models')
        from mmdet.registry import MODELS as REGISTRY
        cfg = dict(type='mmhybrid.HorFPN', in_channels=[4, 8, 16, 32],
                   out_channels=8, num_outs=5)
    else:
        pytest.importorskip('mmseg.models')
        from mmseg.registry import MODELS as REGISTRY
        cfg = dict(type='mmhybrid.GNUPerHead', in_channels=[4, 8, 16, 32],
                   in_index=[0, 1, 2, 3], channels=8, num_classes=5,
                   norm_cfg=dict(type='BN', requires_grad=True))
    module = REGISTRY.build(dict(cfg, gnconv_cfg=GNCONV_CFGS[variant]))
    module.load_state_dict(fx['state_dict'])
    return module.to(dtype).eval()


@pytest.mark.parametrize('variant', ['7x7', 'gf'])
def test_horfpn_parity(variant):
    fx = load('gnfpn.pt')
    neck = build_neck('gnfpn', variant, fx[f'gnfpn_{variant}'])
    with torch.no_grad():
        outs = neck([x.double() for x in fx['inputs']])
    assert [o.shape[2:] for o in outs] == \
        [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)]
    for i, (out, ref) in enumerate(zip(outs, fx[f'gnfpn_{variant}']
                                       ['outputs'])):
        assert max_diff(out, ref) <= FP64_TOL, i


def test_horfpn_shapes():
    pytest.importorskip('mmdet.models')
    neck = MODELS.build(dict(type='HorFPN', in_channels=[8, 16, 32, 64],
                             out_channels=16, num_outs=5,
                             norm_cfg=dict(type='BN'),
                             act_cfg=dict(type='ReLU'),
                             gnconv_cfg=dict(order=3, gf_size=(32, 17))))
    assert hasattr(neck.fpn_convs[0], 'bn')
    feats = [torch.rand(2, c, 50 // s, 67 // s)
             for c, s in zip([8, 16, 32, 64], [1, 2, 4, 8])]
    outs = neck(feats)
    assert [tuple(o.shape) for o in outs] == [
        (2, 16, 50, 67), (2, 16, 25, 33), (2, 16, 12, 16), (2, 16, 6, 8),
        (2, 16, 3, 4)]
    sum(o.mean() for o in outs).backward()


@pytest.mark.parametrize('variant', ['7x7', 'gf'])
def test_gn_uper_head_parity(variant):
    fx = load('gn_uper_head.pt')
    head = build_neck('gn_uper_head', variant,
                      fx[f'gn_uper_head_{variant}'])
    with torch.no_grad():
        out = head([x.double() for x in fx['inputs']])
    assert out.shape == (1, 5, 24, 32)
    assert max_diff(out, fx[f'gn_uper_head_{variant}']['outputs']) <= \
        FP64_TOL


def test_gn_uper_head_shapes():
    pytest.importorskip('mmseg.models')
    head = MODELS.build(dict(type='GNUPerHead', in_channels=[8, 16, 32, 64],
                             in_index=[0, 1, 2, 3], channels=16,
                             num_classes=3, norm_cfg=dict(type='BN')))
    assert head.conv_cfg is None  # the gnConv settings do not shadow it
    assert isinstance(head.fpn_bottleneck.proj_out, nn.Identity)
    feats = [torch.rand(2, c, 33 // s, 47 // s)
             for c, s in zip([8, 16, 32, 64], [1, 2, 4, 8])]
    out = head(feats)
    assert out.shape == (2, 3, 33, 47)
    out.mean().backward()


def test_layer_decay_num_layers_6_quirk():
    """Official HorFPN recipes use num_layers=6 with ids that still run to
    12: the last stage gets an LR scale of 0.95 ** -5 (official behaviour)."""
    model = HorNet(arch='t')
    layer, total = model.get_layer_depth('stages.3.0.gamma1', 'layer_wise', 6)
    assert (layer, total) == (12, 8)
    assert 0.95**(total - layer - 1) == pytest.approx(1.292, abs=1e-3)
    assert model.get_layer_depth('stages.2.17.gamma1', 'layer_wise', 6) == \
        (11, 8)
    assert model.get_layer_depth('norm3.weight', 'layer_wise', 6) == (7, 8)
