"""HAT-Net and TransCNN beyond the backbone contract.

Parity tests compare with float64 outputs of the official code stored in
``tests/data/hatnet`` (see its README for how they were produced).
"""
import copy
import os
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

import mmhybrid  # noqa: F401
from mmhybrid.models import HATNet, TransCNN
from mmhybrid.models.backbones import hatnet as hatnet_module
from mmhybrid.models.backbones.hatnet import (HMHSA, InvertedResidual,
                                              SiLUConv2d, grid_attention)
from mmhybrid.models.utils import load_pretrained
from tests.in_process import run_script
from tests.saved_tensors import saved_storages

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(ROOT, 'tests', 'data', 'hatnet')
FIXTURES = {HATNet: 'hatnet_official.pt', TransCNN: 'transcnn_official.pt'}
#: the fixture sizes (H x W); the official code needs multiples of 224 / 128
SIZES = {HATNet: ['224x224', '448x672', '896x1344'],
         TransCNN: ['256x256', '512x512']}
TINY = dict(dims=[8, 16, 32, 48], head_dim=8, depths=[1, 1, 2, 1],
            expansions=[2, 2, 2, 2])
#: parameters of the official models (1000-class head; HAT-Net with its
#: unused proj_norm), counted by instantiating the official classes.
OFFICIAL_PARAMS = {
    HATNet: dict(t=12_655_912, s=25_747_784, m=42_942_472, l=63_132_488),
    TransCNN: dict(t=13_315_976, s=26_538_824, m=48_322_504, l=80_033_352),
}
CHANNELS = {
    HATNet: dict(t=[48, 96, 240, 384], s=[64, 128, 320, 512],
                 m=[64, 128, 320, 512], l=[64, 128, 320, 640]),
    TransCNN: dict(t=[64, 128, 256, 512], s=[64, 128, 256, 512],
                   m=[64, 128, 320, 640], l=[64, 128, 384, 768]),
}
ALIASES = {'t': 'tiny', 's': 'small', 'm': 'medium', 'l': 'large'}


#: float64 parity: the official models and ours agree to ~1e-14
FP64_ATOL = 1e-10
#: float32: this many times the official model's own fp32-vs-fp64 error
FP32_FACTOR = 10


def load(cls):
    return torch.load(osp.join(DATA, FIXTURES[cls]), weights_only=True)


def official_checkpoint(fx):
    """The official classifier's state dict (incl. ``classifier.*``)."""
    return {**fx['state_dict'], **fx['cls_extra']}


def fixture_model(cls, fx, **kwargs):
    cfg = fx['config']
    arch = {k: cfg[k] for k in ('dims', 'head_dim', 'depths', 'expansions',
                                'grid_sizes', 'ds_ratios')}
    arch['kernel_sizes'] = cfg.get('kernel_sizes', [5, 3, 5, 3])
    model = cls(arch=arch, **kwargs).eval()
    model.load_state_dict(cls.convert_official(official_checkpoint(fx)))
    return model


def fixture_input(fx, size, dtype):
    """Integer draws / 256: exact in every dtype and the same on every CPU
    kernel path (``randn`` is not)."""
    h, w = map(int, size.split('x'))
    g = torch.Generator().manual_seed(fx['seeds'][size])
    x = torch.randint(-512, 512, (1, 3, h, w), generator=g) / 256
    assert x.double().sum().item() == fx['input_sums'][size]
    return x.to(dtype)


def parity_diffs(cls, fx, size, dtype):
    """Max abs differences of the subsampled stage outputs and of the
    official classifier's logits (avg-pool + ``classifier.1``) from the
    official float64 outputs."""
    model = fixture_model(cls, fx).to(dtype)
    h, w = map(int, size.split('x'))
    with torch.no_grad():
        outs = model(fixture_input(fx, size, dtype))
    diffs = []
    for i, (o, e, s) in enumerate(zip(outs, fx['outputs'][size],
                                      fx['strides'][size])):
        assert o.shape[-2:] == (math_ceil(h, 4 * 2**i),
                                math_ceil(w, 4 * 2**i))
        diffs.append((o[..., ::s, ::s].double() - e).abs().max().item())
    head = {k: v.to(dtype) for k, v in fx['cls_extra'].items()}
    logits = F.linear(outs[-1].mean((2, 3)), head['classifier.1.weight'],
                      head['classifier.1.bias'])
    diffs.append((logits.double() - fx['logits'][size]).abs().max().item())
    return diffs


# ------------------------------------------------------------ variants ----
@pytest.mark.parametrize('cls', [HATNet, TransCNN])
def test_variants_match_official(cls):
    assert set(cls.arch_zoo) == set(ALIASES) | set(ALIASES.values())
    for arch, official in OFFICIAL_PARAMS[cls].items():
        assert cls.arch_zoo[arch] is cls.arch_zoo[ALIASES[arch]]
        with torch.device('meta'):
            model = cls(arch=arch)
        params = sum(p.numel() for p in model.parameters())
        c = model.stage_channels[-1]
        proj_norm = 2 * sum(b.attn.proj.out_channels for s in model.stages
                            for b in s.blocks) if cls is HATNet else 0
        assert params + proj_norm + 1000 * c + 1000 == official, arch
        assert model.out_channels == CHANNELS[cls][arch]


def test_invalid_archs():
    with pytest.raises(ValueError, match='valid keys'):
        HATNet(arch=dict(TINY, grid_size=[8, 7, 7, 1]))
    with pytest.raises(ValueError, match='per stage'):
        HATNet(arch=dict(TINY, grid_sizes=[8, 7]))
    with pytest.raises(ValueError, match='divisible'):
        HATNet(arch=dict(TINY, head_dim=5))
    with pytest.raises(ValueError, match='attn_mode'):
        HATNet(arch=TINY, attn_mode='both')
    with pytest.raises(TypeError, match='GroupNorm'):
        HATNet(arch=TINY, norm_cfg=dict(type='BN'))


def test_norms_and_layout():
    hat = HATNet(arch=TINY)
    tc = TransCNN(arch=TINY, norm_cfg=dict(type='BN'))
    assert not any('proj_norm' in k for k in hat.state_dict())
    assert isinstance(hat.stages[1].downsample.norm, torch.nn.GroupNorm)
    assert hat.stages[0].blocks[0].attn.norm.eps == 1e-6
    assert isinstance(tc.stages[1].downsample.norm2, torch.nn.BatchNorm2d)
    assert tc.stages[0].blocks[0].conv.conv2[0].kernel_size == (5, 5)
    assert tc.stages[1].blocks[0].conv.conv2[0].kernel_size == (3, 3)
    # output norms are new parameters, only for the returned stages
    model = HATNet(arch=TINY, out_indices=(1, 3),
                   out_norm_cfg=dict(type='GN', num_groups=1, eps=1e-6))
    assert hasattr(model, 'norm1') and hasattr(model, 'norm3')
    assert not hasattr(model, 'norm0')


# ----------------------------------------------------- official parity ----
@pytest.mark.parametrize('cls,size', [(cls, size) for cls in SIZES
                                      for size in SIZES[cls]])
def test_parity_with_official(cls, size):
    """float64: stage outputs and logits equal the official model's."""
    diffs = parity_diffs(cls, load(cls), size, torch.float64)
    assert max(diffs) <= FP64_ATOL, diffs


@pytest.mark.parametrize('cls', [HATNet, TransCNN])
def test_float32_within_official_conditioning(cls):
    """float32 (smallest size): every stage output and the logits are
    within FP32_FACTOR times the official model's own fp32-vs-fp64 error
    of the fp64 reference."""
    fx = load(cls)
    size = SIZES[cls][0]
    err = fx['fp32_error'][size]
    diffs = parity_diffs(cls, fx, size, torch.float32)
    for diff, tol in zip(diffs, err['outputs'] + [err['logits']]):
        assert diff <= FP32_FACTOR * tol, (diffs, err)


def math_ceil(n, d):
    return -(-n // d)


def test_batch_independence():
    """A batch of two gives each image's single-image output."""
    fx = load(HATNet)
    model = fixture_model(HATNet, fx)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        both = model(x)
        one = model(x[1:])
    for a, b in zip(both, one):
        torch.testing.assert_close(a[1:], b, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------- converter ----
def test_convert_official_drops_proj_norm_and_classifier():
    sd = official_checkpoint(load(HATNet))
    before = dict(sd)
    out = HATNet.convert_official(sd)
    assert sd.keys() == before.keys(), 'must not modify its input'
    assert any('proj_norm' in k for k in sd) and 'classifier.1.weight' in sd
    assert not any('proj_norm' in k or k.startswith('classifier')
                   for k in out)
    again = HATNet.convert_official(out)
    assert again.keys() == out.keys()
    assert set(HATNet.convert_official({'model': sd})) == set(out)
    model = fixture_model(HATNet, load(HATNet))
    assert set(out) == set(model.state_dict())
    assert 'stages.1.downsample.conv.weight' in out  # official ds2
    assert 'stem.3.weight' in out  # official patch_embed.3


@pytest.mark.parametrize('cls', [HATNet, TransCNN])
def test_load_pretrained_reports(cls, tmp_path, monkeypatch):
    fx = load(cls)
    path = str(tmp_path / 'official.pth')
    torch.save({'model': official_checkpoint(fx), 'epoch': 300}, path)
    ref = fixture_model(cls, fx)
    model = fixture_model(cls, fx)
    for p in model.parameters():
        p.data.zero_()
    logged = []
    monkeypatch.setattr(hatnet_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    report = load_pretrained(model, path)
    assert report.ratio == 1
    assert not (report.missing or report.unexpected or report.mismatched)
    if cls is HATNet:  # said once, with the number of tensors
        assert len(logged) == 1 and 'dropped 10 attn.proj_norm' in logged[0]
    else:
        assert not logged
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_converter_cli(tmp_path):
    sd = official_checkpoint(load(HATNet))
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'model': sd}, src)
    arch = repr({k: v for k, v in load(HATNet)['config'].items()
                 if k != 'num_classes'})
    proc = run_script('tools/model_converters/convert_checkpoint.py',
                      'HATNet', src, dst, '--arch', arch)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'dropped 10 attn.proj_norm tensors' in log
    n = len(fixture_model(HATNet, load(HATNet)).state_dict())
    assert f'loaded {n}/{n} tensors' in log
    out = torch.load(dst, weights_only=True)['state_dict']
    assert len(out) == n and all(k.startswith('backbone.') for k in out)


# ------------------------------------------------------------ any size ----
@pytest.mark.parametrize('cls', [HATNet, TransCNN])
@pytest.mark.parametrize('attn_mode', ['code', 'paper'])
def test_padding_does_not_leak(cls, attn_mode, monkeypatch):
    """Real tokens never see what the grids are padded with: outputs are
    the same when the padding holds noise instead of zeros."""
    model = cls(arch=TINY, attn_mode=attn_mode).eval()
    x = torch.randn(2, 3, 75, 101)
    with torch.no_grad():
        ref = model(x)
        original = F.pad
        calls = []

        def pad(t, p, *args, **kwargs):
            calls.append(p)
            out = original(t, p, *args, **kwargs)
            mask = original(torch.zeros_like(t), p, value=1.).bool()
            return torch.where(mask, torch.randn_like(out) * 100, out)

        monkeypatch.setattr(hatnet_module.F, 'pad', pad)
        outs = model(x)
    assert calls, 'the grids were never padded'
    for a, b in zip(ref, outs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def naive_grid_attention(q, k, v, g, scale):
    """Per grid, softmax over its real tokens only (loops)."""
    b, nh, d, h, w = q.shape
    out = torch.zeros(b, nh, d, h, w)
    for y0 in range(0, h, g):
        for x0 in range(0, w, g):
            sl = (Ellipsis, slice(y0, y0 + g), slice(x0, x0 + g))
            qq, kk, vv = (t[sl].flatten(3) for t in (q, k, v))
            a = (qq.transpose(-2, -1) @ kk * scale).softmax(-1)
            res = (a @ vv.transpose(-2, -1)).transpose(-2, -1)
            out[sl] = res.view_as(out[sl])
    return out.flatten(1, 2)


@pytest.mark.parametrize('size', [(16, 16), (13, 19), (1, 1), (7, 9),
                                  (17, 3)])
def test_grid_attention_border_rule(size):
    qkv = torch.randn(2, 3 * 3 * 4, *size)
    q, k, v = qkv.view(2, 3, 3, 4, *size).unbind(1)
    torch.testing.assert_close(
        grid_attention(qkv, 3, 8, 0.5),
        naive_grid_attention(q, k, v, 8, 0.5), rtol=1e-5, atol=1e-5)


def test_pooled_border_cells_average_real_pixels():
    """The pooled keys/values of a partial cell are the mean of its real
    pixels (ceil-mode pooling without padding)."""
    y = torch.randn(1, 2, 13, 10)
    pooled = F.avg_pool2d(y, 8, 8, ceil_mode=True)
    assert pooled.shape[-2:] == (2, 2)
    torch.testing.assert_close(pooled[..., 1, 1],
                               y[..., 8:, 8:].mean((-2, -1)))
    torch.testing.assert_close(
        F.max_pool2d(y, 2, 2, ceil_mode=True)[..., -1, -1],
        y[..., 12:, 8:].amax((-2, -1)))


@pytest.mark.parametrize('cls', [HATNet, TransCNN])
@pytest.mark.parametrize('size', [(1, 1), (7, 7), (31, 33), (1, 45),
                                  (97, 131)])
def test_any_size(cls, size):
    model = cls(arch=TINY).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for i, o in enumerate(outs):
        s = 4 * 2**i
        assert o.shape[-2:] == (math_ceil(size[0], s), math_ceil(size[1], s))
        assert torch.isfinite(o).all()


# ---------------------------------------------------- the paper's mode ----
def test_paper_mode_one_step_is_grid_attention():
    """A map that fits in one grid: step 0 is grid attention (here over the
    whole map), step 1 pools it to one token, whose attention output is its
    own value, broadcast back to every pixel."""
    attn = HMHSA(16, 8, grid_size=8, ds_ratio=8, attn_mode='paper').eval()
    x = torch.randn(2, 16, 8, 6)
    with torch.no_grad():
        qkv = attn.qkv(attn.norm(x))
        y = attn.grid_norm(x + grid_attention(qkv, 2, 8, attn.scale))
        z = attn.ds_norm(y.amax((-2, -1), keepdim=True) +
                         y.mean((-2, -1), keepdim=True))
        value = attn.kv(z)[:, 16:]
        torch.testing.assert_close(attn(x), attn.proj(y + value))
        # and grid attention over the whole map is plain attention
        q, k, v = qkv.flatten(2).transpose(1, 2).view(2, 48, 3, 2, 8) \
            .permute(2, 0, 3, 1, 4)
        full = F.scaled_dot_product_attention(q, k, v, scale=attn.scale)
        torch.testing.assert_close(
            grid_attention(qkv, 2, 8, attn.scale),
            full.permute(0, 1, 3, 2).reshape(2, 16, 8, 6))


def test_paper_mode_steps_and_weights():
    """Several steps (32x40 with G=4: step 1 pools to 8x10, step 2 to 2x3,
    which fits in one grid: the last step), every weight of the code mode
    is used and the released weights load unchanged."""
    attn = HMHSA(16, 8, grid_size=4, ds_ratio=4, attn_mode='paper')
    code = HMHSA(16, 8, grid_size=4, ds_ratio=4)
    attn.load_state_dict(code.state_dict())
    calls = []
    attn.kv.register_forward_hook(
        lambda m, i, o: calls.append(tuple(o.shape[-2:])))
    x = torch.randn(2, 16, 32, 40, requires_grad=True)
    out = attn(x)
    assert calls == [(8, 10), (2, 3)]
    out.square().mean().backward()
    assert all(p.grad is not None for p in attn.parameters())
    model = HATNet(arch=TINY, attn_mode='paper')
    model.load_state_dict(HATNet(arch=TINY).state_dict())


# ----------------------------------------------- memory-light training ----
def plain_silu_conv(conv, x):
    return F.conv2d(F.silu(x), conv.weight, conv.bias, conv.stride,
                    conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=1, bias=False),
    dict(kernel_size=3, padding=1, groups=6, bias=False),
    dict(kernel_size=3, stride=2, padding=1, dilation=1)])
@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('norm', [None, 'train', 'eval'])
def test_silu_conv_gradients_are_the_plain_ones(kwargs, channels_last,
                                                norm):
    """float64: SiLUConv2d saves its input (not the activation, nor the
    BatchNorm's output) and its backward gives the gradients of
    ``conv2d(silu(bn(x)))``; the BatchNorm updates its statistics once."""
    torch.manual_seed(0)
    conv = SiLUConv2d(6, 6, **kwargs).double()
    bn = None
    if norm:
        bn = torch.nn.BatchNorm2d(6).double().train(norm == 'train')
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.normal_(bn.bias)
        bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    state = copy.deepcopy(bn.state_dict()) if bn else None
    out, saved = saved_storages(lambda: conv(x, bn))
    assert type(out.grad_fn).__name__ == '_SiLUConvBackward'
    params = [x] + list(conv.parameters())
    own = {p.data_ptr() for p in params[1:]}
    if bn:
        params += list(bn.parameters())
        own |= {p.data_ptr() for p in bn.parameters()}
        after = copy.deepcopy(bn.state_dict())
        bn.load_state_dict(state)
    assert set(saved) - own == {x.data_ptr()}
    ref = plain_silu_conv(conv, bn(x) if bn else x)
    if bn:
        for k, v in bn.state_dict().items():
            torch.testing.assert_close(v, after[k], rtol=0, atol=0)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    grad = torch.randn_like(out)
    torch.testing.assert_close(torch.autograd.grad(out, params, grad),
                               torch.autograd.grad(ref, params, grad),
                               rtol=0, atol=0 if bn is None else 1e-12)


def test_silu_conv_gradcheck():
    conv = SiLUConv2d(2, 2, 3, padding=1, groups=2).double()
    bn = torch.nn.BatchNorm2d(2).double()
    x = torch.randn(2, 2, 3, 4, dtype=torch.float64)
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    assert torch.autograd.gradcheck(conv, (x, ))
    assert torch.autograd.gradcheck(lambda x, w, b: conv(x, bn), (
        x, bn.weight, bn.bias))


def test_silu_conv_plain_path_when_not_recorded():
    """No grad, a traced export or an active Dropout2d: the plain ops."""
    conv = SiLUConv2d(4, 4, 3, padding=1, drop=0.5)
    x = torch.randn(1, 4, 6, 6, requires_grad=True)
    assert conv.eval()(x).grad_fn.name() == '_SiLUConvBackward'
    with torch.no_grad():
        assert conv(x).grad_fn is None
    torch.manual_seed(0)
    dropped = conv.train()(x)
    assert dropped.grad_fn.name() != '_SiLUConvBackward'
    torch.manual_seed(0)
    ref = torch.nn.Conv2d.forward(conv, F.dropout2d(F.silu(x), 0.5))
    torch.testing.assert_close(dropped, ref)
    block = InvertedResidual(4, 8, 3).eval()
    graph = torch.export.export(block, (x.detach(), )).graph
    ops = {str(n.target) for n in graph.nodes if n.op == 'call_function'}
    assert ops <= {'aten.group_norm.default', 'aten.conv2d.default',
                   'aten.silu.default', 'aten.contiguous.default',
                   'aten.feature_dropout_.default'}, ops


@pytest.mark.parametrize('post_norm', [False, True])
def test_inverted_residual_stores_each_hidden_map_once(post_norm):
    """The expanded maps autograd keeps: the two conv outputs (the SiLUs'
    outputs, and TransCNN's BatchNorm outputs, are recomputed)."""
    norm = dict(type='BN') if post_norm else hatnet_module.GN1
    block = InvertedResidual(4, 16, 3, norm_cfg=norm, post_norm=post_norm)
    x = torch.randn(2, 4, 10, 12, requires_grad=True)
    _, saved = saved_storages(lambda: block(x))
    hidden = [n for n in saved.values() if n == 2 * 16 * 10 * 12]
    assert len(hidden) == 2


@pytest.mark.parametrize('cls', [HATNet, TransCNN])
def test_training_paths_agree(cls):
    """float64: with_cp and bf16 autocast train through the same
    functions: with_cp gives the same gradients, autocast those of the
    plain ops under autocast."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 45, 61, dtype=torch.float64)

    def grads(model, x):
        sum(o.square().mean() for o in model(x)).backward()
        return [p.grad for p in model.parameters()]

    model = cls(arch=TINY).double()
    cp_model = cls(arch=TINY, with_cp=True).double()
    cp_model.load_state_dict(model.state_dict())
    torch.testing.assert_close(grads(cp_model, x), grads(model, x),
                               rtol=1e-10, atol=1e-12)
    conv = SiLUConv2d(8, 16, 3, padding=1, bias=False)
    bn = torch.nn.BatchNorm2d(8)
    y = torch.randn(2, 8, 7, 9, requires_grad=True)
    for norm in (None, bn):
        params = (y, conv.weight) + (() if norm is None else (bn.weight, ))
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = conv(y, norm)
            ref = plain_silu_conv(conv, y if norm is None else bn(y))
        assert out.dtype == torch.bfloat16
        assert type(out.grad_fn).__name__ == '_SiLUConvBackward'
        grad = torch.randn_like(out)
        torch.testing.assert_close(
            torch.autograd.grad(out, params, grad),
            torch.autograd.grad(ref, params, grad),
            **(dict(rtol=0, atol=0) if norm is None else {}))


def test_query_chunks_equal_one_call(monkeypatch):
    """float64: the global step's query chunks (stride-0 keys/values)
    give the outputs and gradients of one attention call."""
    attn = HMHSA(16, 8, grid_size=4, ds_ratio=2).double()
    x = torch.randn(2, 16, 23, 29, dtype=torch.float64, requires_grad=True)
    results = []
    for chunk in (10**9, 100):
        monkeypatch.setattr(HMHSA, 'QUERY_CHUNK', chunk)
        out = attn(x)
        grads = torch.autograd.grad(out.square().sum(),
                                    [x] + list(attn.parameters()))
        results.append((out, grads))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=1e-12)


# ------------------------------------------------------- BN, LR decay ----
def test_transcnn_norm_eval_and_frozen_stages():
    model = TransCNN(arch=TINY, norm_eval=True, frozen_stages=1).train()
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stages[0].parameters())
    assert all(p.requires_grad for p in model.stages[1].parameters())
    sync = TransCNN(arch=TINY, norm_cfg=dict(type='SyncBN'))
    assert isinstance(sync.stages[0].blocks[0].attn.norm,
                      torch.nn.SyncBatchNorm)


def test_layer_depth():
    model = HATNet(arch='s', out_norm_cfg=dict(type='GN', num_groups=1))
    pos = model.param_position
    assert pos('stem.0.weight') == (0, -1)
    assert pos('stages.1.downsample.conv.weight') == (1, -1)
    assert pos('stages.2.blocks.5.attn.qkv.weight') == (2, 5)
    assert pos('norm3.weight') == (None, 0)
    depth = model.get_layer_depth
    assert depth('stem.0.weight') == (0, 14)
    assert depth('stages.0.blocks.1.conv.conv1.1.weight')[0] == 1
    assert depth('stages.2.blocks.7.attn.q.weight')[0] == 3 + 7 // 3
    assert depth('stages.3.blocks.0.attn.qkv.weight')[0] == 12
    assert depth('norm3.weight')[0] == 13
    assert depth('stages.2.blocks.7.attn.q.weight', 'stage_wise')[0] == 3


# ----------------------------------------------------------------- DDP ----
def _ddp_worker(rank: int, port: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        for attn_mode in ('code', 'paper'):
            torch.manual_seed(0)
            model = HATNet(arch=dict(TINY, depths=[2, 1, 1, 1]),
                           drop_path_rate=0.1, attn_mode=attn_mode,
                           out_norm_cfg=dict(type='GN', num_groups=1))
            ddp = DistributedDataParallel(model,
                                          find_unused_parameters=False)
            opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
            gen = torch.Generator().manual_seed(rank)
            for _ in range(2):  # an unused parameter fails the 2nd iteration
                outs = ddp(torch.randn(2, 3, 50, 70, generator=gen))
                sum(o.mean() for o in outs).backward()
                opt.step()
                opt.zero_grad()
            flat = torch.cat([p.detach().flatten()
                              for p in model.parameters()])
            both = [torch.zeros_like(flat) for _ in range(2)]
            dist.all_gather(both, flat)
            assert torch.equal(both[0], both[1]), \
                f'{attn_mode}: ranks diverged'
    finally:
        dist.destroy_process_group()


def test_ddp_without_find_unused_parameters():
    """Two gloo processes train HAT-Net in both attention modes with
    find_unused_parameters=False (the official model needs True because of
    its unused proj_norm); one process group for both modes."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    # spawn: a forked child cannot run autograd once the parent has started
    # autograd's worker threads (e.g. after tests/test_compile.py)
    mp.start_processes(_ddp_worker, args=(port, ), nprocs=2,
                       join=True, start_method='spawn')
