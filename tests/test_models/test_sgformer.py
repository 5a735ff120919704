"""SG-Former beyond the backbone contract.

Parity tests compare with float64 outputs of the official code stored in
``tests/data/sgformer`` (see its README for how they were produced and why
the float32 check looks at the first block only).
"""
import argparse
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper

import mmhybrid  # noqa: F401
from mmhybrid.models import SGFormer
from mmhybrid.models.backbones import sgformer as sg
from mmhybrid.models.utils import load_state_dict_report

DATA = osp.join(osp.dirname(__file__), '..', 'data', 'sgformer')
#: parameters and state-dict keys of the official classification models
#: (1000-class head), counted by instantiating OliverRensu/SG-Former@b982803
OFFICIAL = {'s': (22_545_981, 669), 'm': (38_689_316, 1069),
            'b': (77_950_293, 1017)}
ALIASES = {'s': 'small', 'm': 'medium', 'b': 'base'}
TINY = dict(embed_dims=[8, 16, 32, 32], num_heads=[2, 2, 2, 2],
            depths=[2, 2, 2, 1])
#: float64 parity: the official model and ours agree to ~1e-14
FP64_ATOL = 1e-10
#: float32: this many times the official model's own fp32-vs-fp64 error
FP32_FACTOR = 10
#: the global half of the HS blocks: explicit softmax, or fused attention
#: with its significance map in one piece or in query chunks
#: (EXPLICIT_GLOBAL_MAX, SIGNIFICANCE_CHUNK)
GLOBAL_PATHS = {'explicit': (1 << 40, None), 'fused': (0, None),
                'chunked': (0, 1 << 12)}
#: the parity cases; the largest on the path it takes by default only
PARITY = [(name, path) for name in ('224', '224x448', '448')
          for path in GLOBAL_PATHS] + [('896x1344', 'fused')]


@pytest.fixture(scope='module')
def fixture():
    return torch.load(osp.join(DATA, 'sgformer_official.pt'),
                      weights_only=True)


def official_model(fixture, **kwargs):
    cfg = fixture['config']
    model = SGFormer(arch={k: cfg[k] for k in ('embed_dims', 'num_heads',
                                               'depths')},
                     drop_path_rate=0., **kwargs)
    return model


def official_state_dict(fixture):
    """The official classifier's checkpoint (backbone, ``pos_embed`` and
    ``head.*``), float32 as released."""
    sd = {**fixture['state_dict'], **fixture['cls_extra']}
    return {k: v.float() for k, v in sd.items()}


def loaded_model(fixture, dtype):
    model = official_model(fixture).eval()
    report = load_state_dict_report(
        model, model.convert_official(official_state_dict(fixture)))
    assert len(report.loaded) == report.total and not report.unexpected
    return model.to(dtype)


def case_input(case, dtype=torch.float64):
    """Integer draws / 256: exact in every dtype and the same on every CPU
    kernel path (``randn`` is not)."""
    g = torch.Generator().manual_seed(case['seed'])
    x = torch.randint(-512, 512, case['shape'], generator=g) / 256
    assert x.double().sum().item() == case['input_sum']
    return x.to(dtype)


def significance_maps(model):
    """Hooks collecting the map of the first (HS) block of stages 1-3."""
    maps = []
    for i in range(3):
        getattr(model, f'block{i + 1}')[0].attn.register_forward_hook(
            lambda m, args, out: maps.append(out[1]))
    return maps


def first_block_output(model):
    """Hook collecting the output of the first block, as (B, C, H, W)."""
    outs = []

    def hook(m, args, out):
        hw = args[1]
        x = out[0]
        outs.append(x.transpose(1, 2).reshape(x.shape[0], -1, *hw))

    model.block1[0].register_forward_hook(hook)
    return outs


def set_global_path(monkeypatch, path):
    explicit_max, chunk = GLOBAL_PATHS[path]
    monkeypatch.setattr(sg, 'EXPLICIT_GLOBAL_MAX', explicit_max)
    if chunk is not None:
        monkeypatch.setattr(sg, 'SIGNIFICANCE_CHUNK', chunk)


def max_diff(out, ref, step):
    return (out[..., ::step, ::step] - ref).abs().max().item()


# ------------------------------------------------------------ variants ----
def test_arch_zoo_keys():
    assert set(SGFormer.arch_zoo) == set(ALIASES) | set(ALIASES.values())
    for short, long in ALIASES.items():
        assert SGFormer.arch_zoo[short] is SGFormer.arch_zoo[long]


@pytest.mark.parametrize('arch', sorted(OFFICIAL))
def test_param_counts_match_official(arch):
    with torch.device('meta'):
        model = SGFormer(arch=arch)
    c = model.stage_channels[-1]
    params = sum(p.numel() for p in model.parameters())
    assert params + c * 1000 + 1000 == OFFICIAL[arch][0]
    assert len(model.state_dict()) + 2 == OFFICIAL[arch][1]
    assert model.out_channels == ([96, 192, 384, 768] if arch == 'b' else
                                  [64, 128, 256, 512])
    assert model.strides == [4, 8, 16, 32]


def test_block_layout():
    model = SGFormer(arch=TINY)
    for i in range(3):
        modes = [b.attn.mode for b in getattr(model, f'block{i + 1}')]
        assert modes == ['hs', 'sg']
    assert model.block4[0].attn.mode == 'full'
    assert model.block1[1].attn.f1.in_features == 196
    assert not hasattr(model.block3[1].attn, 'f3')


@pytest.mark.parametrize('arch,match', [
    (dict(depths=[3, 2, 2, 1]), 'even'),
    (dict(depths=[2, 2, 0, 1]), 'even'),
    (dict(num_heads=[2, 3, 2, 2]), 'even'),
    (dict(sr_ratios=[8, 4, 2, 2]), r'\[8, 4, 2, 1\]'),
    (dict(embed_dims=[8, 16, 33, 32]), 'divisible'),
    (dict(depths=[2, 2, 2]), '4 stages'),
    (dict(window=7), 'valid keys'),
])
def test_invalid_settings(arch, match):
    with pytest.raises(ValueError, match=match):
        SGFormer(arch={**TINY, **arch})


# -------------------------------------------------------------- parity ----
@pytest.mark.parametrize('name,path', PARITY)
def test_official_parity(fixture, name, path, monkeypatch):
    """float64: stage outputs, significance maps, the first block and the
    official classifier's logits vs the official model (same weights;
    pos_embed resized bicubic for official at sizes != 224), with the HS
    global half explicit, fused, or fused with a chunked map."""
    set_global_path(monkeypatch, path)
    model = loaded_model(fixture, torch.float64)
    maps = significance_maps(model)
    first = first_block_output(model)
    case = fixture['cases'][name]
    with torch.no_grad():
        outs = model(case_input(case))
    diffs = [max_diff(o, r, s)
             for o, r, s in zip(outs, case['outputs'], case['steps'])]
    diffs += [max_diff(m, r, s)
              for m, r, s in zip(maps, case['maps'], case['map_steps'])]
    diffs.append(max_diff(first[0], case['first_block'], case['steps'][0]))
    # the official classifier: norm4 (our last stage), token mean, head
    head = fixture['cls_extra']
    logits = F.linear(outs[-1].mean((2, 3)), head['head.weight'].double(),
                      head['head.bias'].double())
    diffs.append((logits - case['logits']).abs().max().item())
    assert max(diffs) <= FP64_ATOL, diffs


@pytest.mark.parametrize('path', sorted(GLOBAL_PATHS))
def test_float32_within_official_conditioning(fixture, path, monkeypatch):
    """float32: the first block's output and the stage-1 significance map
    (upstream of every significance ranking) are within FP32_FACTOR times
    the official model's own fp32-vs-fp64 error of the fp64 reference.
    Later outputs are not compared in fp32: an SG block sorts tokens by
    significance, fp32 rounding swaps near-ties, and the official model's
    own fp32 stage outputs are up to 0.5 from its fp64 ones (README)."""
    set_global_path(monkeypatch, path)
    model = loaded_model(fixture, torch.float32)
    maps = significance_maps(model)
    first = first_block_output(model)
    case = fixture['cases']['224']
    with torch.no_grad():
        model(case_input(case, torch.float32))
    err = case['fp32_error']
    diff = max_diff(first[0].double(), case['first_block'],
                    case['steps'][0])
    assert diff <= FP32_FACTOR * err['first_block'], diff
    diff = max_diff(maps[0].double(), case['maps'][0], case['map_steps'][0])
    assert diff <= FP32_FACTOR * err['maps'][0], diff


def test_official_checkpoint_prefers_ema(fixture, tmp_path):
    """A timm CheckpointSaver file: ``state_dict_ema`` wins, ``head.*`` and
    the top-level ``pos_embed`` are handled, every tensor is matched."""
    sd = official_state_dict(fixture)
    assert 'pos_embed' in sd and 'head.weight' in sd
    noisy = {k: v + 1 for k, v in sd.items()}
    path = tmp_path / 'official.pth.tar'
    torch.save({'epoch': 299, 'arch': 'sgformer_s', 'state_dict': noisy,
                'state_dict_ema': sd, 'version': 2, 'metric': 83.2,
                'args': argparse.Namespace(model='sgformer_s')}, path)
    model = official_model(
        fixture, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    model.eval().double()
    case = fixture['cases']['224']
    with torch.no_grad():
        out = model(case_input(case))[-1]
    assert max_diff(out, case['outputs'][-1], 1) <= FP64_ATOL


def test_convert_official_idempotent(fixture):
    sd = official_state_dict(fixture)
    once = SGFormer.convert_official(sd)
    assert 'patch_embed1.pos_embed' in once and 'pos_embed' not in once
    assert not any(k.startswith('head.') for k in once)
    assert SGFormer.convert_official(once).keys() == once.keys()
    # a whole checkpoint: the EMA weights win here too, as in the loader
    ema = {k: torch.ones_like(v) for k, v in sd.items()}
    picked = SGFormer.convert_official(dict(state_dict=sd,
                                            state_dict_ema=ema))
    assert all(v.eq(1).all() for v in picked.values())


def test_pos_embed_resized_on_load(fixture):
    """A 224 checkpoint loads into a 384-pretrain-size model (96x96 table),
    bicubic, and the report lists it."""
    model = official_model(fixture, pretrain_img_size=384)
    report = load_state_dict_report(
        model, model.convert_official(official_state_dict(fixture)))
    assert report.resized == ['patch_embed1.pos_embed']
    assert len(report.loaded) == report.total
    assert model.patch_embed1.pos_embed.shape == (1, 96 * 96, 16)


def test_pos_embed_cache():
    model = SGFormer(arch=TINY).eval()
    stem = model.patch_embed1
    with torch.no_grad():
        a = stem.resized_pos_embed((10, 12))
        assert stem.resized_pos_embed((10, 12)) is a
        stem.pos_embed.add_(1)  # an optimizer step: the cache refreshes
        b = stem.resized_pos_embed((10, 12))
    assert b is not a
    torch.testing.assert_close(b, a + 1, rtol=1e-5, atol=1e-5)
    pos = stem.resized_pos_embed((10, 12))  # grad mode: never cached
    assert pos.requires_grad and not stem._pos_cache


# ------------------------------------------------------------ any size ----
@pytest.mark.parametrize('size', [(1, 1), (7, 7), (31, 31), (1, 45),
                                  (45, 1), (97, 131), (128, 128),
                                  (100, 167)])
def test_any_size(size):
    model = SGFormer(arch=TINY).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    for out, s in zip(outs, model.strides):
        assert out.shape[2:] == tuple(-(-n // s) for n in size)
        assert torch.isfinite(out).all()


def test_window_padding_invariance():
    """A real token's output and significance do not depend on how much
    padding follows it, and each window's real tokens receive a total
    significance of 1 (padding receives none)."""
    torch.manual_seed(0)
    hw = (10, 12)
    q, k, v = (torch.randn(2, 120, 3, 4) for _ in range(3))
    ref, ref_sig = sg.window_attention(q, k, v, hw, 0.5)
    for padded in [(14, 14), (21, 14), (14, 28), (28, 35)]:
        out, sig = sg.window_attention(q, k, v, hw, 0.5, padded_hw=padded)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(sig, ref_sig, rtol=0, atol=1e-7)
    # windows: rows [0, 7) and [7, 10), cols [0, 7) and [7, 12)
    for rows in (slice(0, 7), slice(7, 10)):
        for cols in (slice(0, 7), slice(7, 12)):
            total = ref_sig[:, rows, cols].sum((1, 2))
            torch.testing.assert_close(total, torch.ones(2))
    # changing real tokens outside a window leaves it untouched
    k2 = k.clone().view(2, 10, 12, 3, 4)
    k2[:, 7:] += 1
    out2, _ = sg.window_attention(q, k2.view_as(k), v, hw, 0.5)
    torch.testing.assert_close(out2.view(2, 10, 12, -1)[:, :7],
                               ref.view(2, 10, 12, -1)[:, :7])


def test_sg_partial_runs():
    """SG ranks real tokens only; a segment that is not a multiple of its
    run length ends in a shorter run, zero-filled (official segments)."""
    attn = sg.SGAttention(16, 2, 'sg', sr_ratio=2)
    x = torch.randn(1, 15, 16)  # 3x5: odd segments, partial runs
    sig = torch.rand(1, 3, 5)
    order = torch.sort(sig.reshape(1, 15), dim=1)[1]
    seq = attn._aggregate(x, order)
    assert seq.shape == (1, 4 + 8, 16)  # ceil(7 / 2) + 8 / 1
    # the partial run is the run of the real tokens with zeros after them
    last = x[0, order[0, 6]] * attn.f1.weight[0, 0] + attn.f1.bias
    torch.testing.assert_close(seq[0, 3], last)


def test_significance_chunks_match():
    torch.manual_seed(0)
    q, k = torch.randn(2, 2, 300, 8), torch.randn(2, 2, 40, 8)
    full = sg.received_attention(q, k, 0.3)
    ref = ((q @ k.transpose(-2, -1)) * 0.3).softmax(-1).mean((1, 2))
    torch.testing.assert_close(full, ref)
    chunked = sg.received_attention(q, k, 0.3, chunk=2 * 2 * 40 * 7)
    torch.testing.assert_close(chunked, full, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(full.sum(-1), torch.ones(2))


def test_explicit_and_fused_global_paths_agree(monkeypatch):
    """The HS global half gives the same output, gradients and significance
    maps whether explicit (few weights) or fused + no-grad pass (many; the
    parity cases cover both: '224' explicit, '896x1344' fused)."""
    torch.manual_seed(0)
    model = SGFormer(arch=TINY, drop_path_rate=0.).train()
    x = torch.rand(1, 3, 100, 132)
    results = []
    for limit in (1 << 40, 0):
        monkeypatch.setattr(sg, 'EXPLICIT_GLOBAL_MAX', limit)
        model.zero_grad()
        maps = significance_maps(model)
        outs = model(x)
        sum(o.sum() for o in outs).backward()
        results.append((outs, [m.clone() for m in maps],
                        model.block1[0].attn.q1.weight.grad.clone()))
    (o1, m1, g1), (o2, m2, g2) = results
    for a, b in zip(list(o1) + m1, list(o2) + m2):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-6)


def test_no_attention_matrix_saved_for_backward(monkeypatch):
    """Above EXPLICIT_GLOBAL_MAX, no tensor with one entry per (query, key)
    pair of a global attention is kept for backward, and none for the
    significance map."""
    monkeypatch.setattr(sg, 'EXPLICIT_GLOBAL_MAX', 0)
    model = SGFormer(arch=TINY, out_indices=(0, )).train()
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    x = torch.rand(1, 3, 112, 112)  # stage 1: 28x28 tokens, 9 keys (HS)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)[0]
    out.sum().backward()
    n = 28 * 28
    sg_keys = -(-(n // 4) // 196) + -(-(n // 2) // 56) + -(-(n // 4) // 28)
    assert sg_keys == 1 + 7 + 7
    assert saved
    for shape in saved:
        numel = torch.Size(shape).numel()
        assert numel not in (n * 9, n * sg_keys), shape


# ------------------------------------------------- training memory ----
def plain_ffn(ffn, x, hw):
    """The FFN with every op in autograd (what it computed before the
    recomputing backward)."""
    return ffn.fc2(ffn.hidden(ffn.fc1(x), hw))


def grads_of(module, x, fn):
    module.zero_grad()
    x = x.detach().requires_grad_()
    out = fn(x)
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype)
                 .view_as(out))
    return [out, x.grad] + [p.grad.clone() for p in module.parameters()]


def test_ffn_recompute_matches_plain_float64():
    """The training FFN (depthwise conv and GELU recomputed in backward)
    gives the plain path's output and gradients in float64."""
    torch.manual_seed(0)
    ffn = sg.DWConvFFN(6, 12).double()
    hw = (5, 7)
    x = torch.randn(2, 35, 6, dtype=torch.float64)
    ours = grads_of(ffn, x, lambda t: ffn(t, hw))
    ref = grads_of(ffn, x, lambda t: plain_ffn(ffn, t, hw))
    assert torch.equal(ours[0], ref[0])
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    small = sg.DWConvFFN(2, 4).double()
    assert torch.autograd.gradcheck(
        lambda t, *_: small(t, (2, 3)),
        (torch.randn(1, 6, 2, dtype=torch.float64, requires_grad=True),
         *small.parameters()))


@pytest.mark.parametrize('mode', ['hs', 'full'])
def test_block_recompute_matches_plain_float64(mode):
    """A block (norm2 and the FFN's hidden ops recomputed in backward) gives
    the plain path's output and gradients in float64."""
    torch.manual_seed(0)
    blk = sg.SGFormerBlock(8, 2, mode, sr_ratio=2).double()
    hw = (7, 9)
    x = torch.randn(1, 63, 8, dtype=torch.float64)

    def plain(t):
        t = t + blk.attn(blk.norm1(t), hw)[0]
        return t + plain_ffn(blk.mlp, blk.norm2(t), hw)

    ours = grads_of(blk, x, lambda t: blk(t, hw)[0])
    ref = grads_of(blk, x, plain)
    assert torch.equal(ours[0], ref[0])
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_ffn_recompute_frozen_and_autocast():
    """Frozen parameters get no gradient; under bf16 autocast the output is
    the plain path's and the gradients agree within bf16 rounding."""
    torch.manual_seed(0)
    ffn = sg.DWConvFFN(8, 16)
    hw = (4, 6)
    x = torch.randn(2, 24, 8)
    ffn.dwconv.requires_grad_(False)
    ffn(x.requires_grad_(), hw).sum().backward()
    assert ffn.dwconv.dwconv.weight.grad is None
    assert ffn.fc2.weight.grad is not None and x.grad is not None
    ffn.requires_grad_(True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        ours = grads_of(ffn, x, lambda t: ffn(t, hw))
        ref = grads_of(ffn, x, lambda t: plain_ffn(ffn, t, hw))
    assert ours[0].dtype == torch.bfloat16 and torch.equal(ours[0], ref[0])
    for a, b in zip(ours[1:], ref[1:]):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-2)


def saved_storages(fn, *args):
    """Shapes of the distinct storages autograd keeps for backward."""
    saved = {}

    def pack(t):
        saved.setdefault(t.untyped_storage().data_ptr(), tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return list(saved.values())


def test_training_keeps_one_hidden_tensor():
    """While training, the FFN keeps one hidden-sized tensor (``fc1(x)``)
    and a conv + GroupNorm + GELU of the stem/merging keeps the conv's
    input and output, not the norm's output."""
    ffn = sg.DWConvFFN(4, 16)
    x = torch.rand(1, 30, 4, requires_grad=True)
    shapes = saved_storages(ffn, x, (5, 6))
    assert [s for s in shapes if torch.Size(s).numel() >= 30 * 16] == \
        [(1, 30, 16)]
    merge = sg.ConvPatchMerging(4, 8)
    x = torch.rand(1, 4, 10, 12, requires_grad=True)
    big = [s for s in saved_storages(merge, x)
           if torch.Size(s).numel() >= 8 * 5 * 6]
    # the input x; per conv + GN + GELU the conv's output and the GELU's;
    # conv3's output (its GroupNorm's input)
    assert sorted(big) == sorted([(1, 4, 10, 12), (1, 8, 10, 12),
                                  (1, 8, 10, 12), (1, 8, 5, 6),
                                  (1, 8, 5, 6), (1, 8, 5, 6)]), big


@pytest.mark.parametrize('batch', [1, 2])
def test_token_map_is_channels_last(batch):
    """The convs on tokens get a channels-last view with channels-last
    strides in every dim: at batch 1 a transpose of the tokens gives the
    batch dim the stride C, and torch's CPU conv then runs NCHW on a copy
    (configs/sgformer/README.md)."""
    c, hw = 16, (5, 7)
    x = torch.rand(batch, hw[0] * hw[1], c)
    m = sg._to_nchw(x, hw)
    assert m.data_ptr() == x.data_ptr()
    assert m.stride() == (hw[0] * hw[1] * c, 1, hw[1] * c, c)


def test_stem_and_merging_match_plain_float64():
    """Stem and patch merging (norm + GELU recomputed in backward) give the
    plain Sequential's output and gradients in float64."""
    torch.manual_seed(0)
    stem = sg.SGFormerStem(3, 8, 4).double()
    merge = sg.ConvPatchMerging(8, 16).double()
    x = torch.randn(1, 3, 18, 22, dtype=torch.float64)
    y = torch.randn(1, 8, 9, 11, dtype=torch.float64)
    ours = grads_of(stem.conv, x, lambda t: stem(t))
    ref = grads_of(stem.conv, x, lambda t: sg._to_nchw(
        stem.norm(stem.conv(t).flatten(2).transpose(1, 2)) +
        stem.resized_pos_embed((5, 6)), (5, 6)))
    ours += grads_of(merge, y, merge)
    ref += grads_of(merge, y, lambda t: merge.conv3(
        merge.act(merge.conv2(merge.act(merge.conv1(t))))))
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_training_float64_gradients_with_cp():
    """Whole model, float64: gradients are the same with ``with_cp`` (the
    blocks recomputed) and without, on a size with padded windows."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 100, 132, dtype=torch.float64)
    results = []
    for with_cp in (False, True):
        torch.manual_seed(1)
        model = SGFormer(arch=TINY, drop_path_rate=0., with_cp=with_cp)
        model = model.double().train()
        outs = model(x)
        sum((o * o).sum() for o in outs).backward()
        results.append([o.detach() for o in outs] +
                       [p.grad for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


# ------------------------------------------------------------ LR decay ----
def test_layer_decay_constructor():
    model = nn.Module()
    model.backbone = SGFormer(arch=TINY)
    optimizer = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(decay_rate=0.5, num_layers=6))).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(p)]: (g['lr'], g['weight_decay'])
           for g in optimizer.param_groups for p in g['params']}
    assert len(lrs) == len(names)
    # 8 layer ids: the stem (with pos_embed, not decayed) is layer 0
    assert lrs['backbone.patch_embed1.pos_embed'] == (1e-3 * 0.5**7, 0.)
    assert lrs['backbone.patch_embed1.conv.0.c.weight'][0] == 1e-3 * 0.5**7
    assert lrs['backbone.block1.1.attn.f1.weight'] == (1e-3 * 0.5**6, 0.05)
    assert lrs['backbone.block4.0.attn.kv.weight'][0] == 1e-3 * 0.5
    # norm{i} feeds the next stage: it decays with its stage's last block
    assert lrs['backbone.norm2.weight'] == (1e-3 * 0.5**5, 0.)
    bb = model.backbone
    assert bb.param_position('patch_embed3.conv1.c.weight') == (2, -1)
    assert bb.param_position('block3.1.attn.f1.weight') == (2, 1)
    assert bb.param_position('norm2.weight') == (1, 1)


def test_sincos_init_matches_official(fixture):
    """The fixture's pos_embed is the official sin-cos table (fp16)."""
    table = sg.sincos_pos_embed(16, 56)
    assert torch.equal(table.half(), fixture['state_dict']['pos_embed'])
    model = SGFormer(arch=TINY)
    model.init_weights()
    torch.testing.assert_close(model.patch_embed1.pos_embed,
                               sg.sincos_pos_embed(8, 56))
