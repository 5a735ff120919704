"""ViT-LSLA: no official code exists, so the invariants of the paper's
definition are the tests (LSA formula, outer bias after the softmax, masks,
padding), plus the documented budgets, the switches and the loader."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import FFN

from mmhybrid.models.backbones import lsla as lsla_module
from mmhybrid.models.backbones.lsla import (TABLES, GeluFFN,
                                            GeluLinearFunction, LSLA,
                                            LimitedAttentionFunction,
                                            LSLABlock, ViTLSLA)
from mmhybrid.models.layers.swin import (relative_position_index,
                                         window_attention_mask)
from mmhybrid.models.utils import load_pretrained
from mmhybrid.utils.analysis import build_target, count_macs, sum_outputs
from tests.saved_tensors import saved_storages

NEG_INF = float('-inf')  # LSLA's masks (ViTLSLA.mask_value)

TINY = dict(embed_dims=8, depths=[2, 1, 2, 1], num_heads=[2, 2, 4, 4])

# --------------------------------------------------------------- helpers ----


def windows(x, ws):
    """(B, H, W, C) -> (B * nW, ws*ws, C), Swin's order."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).transpose(2, 3)
    return x.reshape(-1, ws * ws, c)


def unwindows(x, b, h, w, ws):
    c = x.shape[-1]
    x = x.view(b, h // ws, w // ws, ws, ws, c).transpose(2, 3)
    return x.reshape(b, h, w, c)


def swin_regions(h, w, ws, shift):
    """Region ids of mmdet's Swin img_mask (slices of the padded map)."""
    region = torch.zeros(h, w)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            region[hs, wsl] = cnt
            cnt += 1
    return region


def reference_lsla(m: LSLA, x, shift=0):
    """The paper's formula written plainly for a map of window multiples:
    per window and head, ``(softmax(S * Q K^T + B_in + mask) + B_out * keep)
    V``, then ``W_o``; masked pairs get -inf logits and no outer bias."""
    b, h, w, c = x.shape
    ws, nh, d = m.window_size, m.num_heads, m.head_dim
    n = ws * ws
    if shift:
        x = torch.roll(x, (-shift, -shift), (1, 2))
    xw = windows(x, ws)
    proj = iter(m.in_proj(xw).split(c, -1)) if m.in_proj else None
    qkv = [xw if ch == 'x' else next(proj) for ch in m.attn_mode]
    idx = relative_position_index(ws).view(-1)

    def table(name, default):
        t = getattr(m, name, None)
        return torch.full((n, n, nh), default) if t is None else \
            t[idx].view(n, n, nh)

    scale = table('dynamic_scale_table', m.scale)
    inner = table('relative_position_bias_table', 0.)
    outer = table('outer_bias_table', 0.)
    if shift:
        region = windows(swin_regions(h, w, ws, shift)[None, ..., None],
                         ws)[..., 0]
        keep = region[:, :, None] == region[:, None, :]
    else:
        keep = torch.ones(xw.shape[0] // b, n, n, dtype=torch.bool)
    keep = keep.repeat(b, 1, 1)
    out = torch.zeros_like(xw)
    for i in range(nh):
        sl = slice(i * d, (i + 1) * d)
        q, k, v = (t[..., sl] for t in qkv)
        logits = scale[..., i] * (q @ k.transpose(1, 2)) + inner[..., i]
        logits = logits.masked_fill(~keep, float('-inf'))
        a = logits.softmax(-1) + outer[..., i] * keep
        out[..., sl] = a @ v
    out = unwindows(m.proj(out), b, h, w, ws)
    if shift:
        out = torch.roll(out, (shift, shift), (1, 2))
    return out


def randomise_tables(m, seed=0):
    g = torch.Generator().manual_seed(seed)
    for name in TABLES:
        t = getattr(m, name, None)
        if t is not None:
            t.data.add_(0.3 * torch.randn(t.shape, generator=g))


# -------------------------------------------------------------- the op -----


@pytest.mark.parametrize('scale_mode', ['fixed', 'dynamic'])
@pytest.mark.parametrize('shift', [0, 2])
def test_lsa_is_softmax_xxt_x(scale_mode, shift):
    """Q = X, scale 1/sqrt(d), no biases: LSA = softmax(X X^T / sqrt(d)) X
    per head and window (shifted windows: within each shift region)."""
    torch.manual_seed(0)
    m = LSLA(8, 2, window_size=4, attn_mode='xxx', out_proj=False,
             scale_mode=scale_mode, inner_bias=False,
             outer_bias=scale_mode == 'dynamic').eval()
    if scale_mode == 'dynamic':  # initialised to d^-0.5, outer bias to 0
        assert torch.all(m.dynamic_scale_table == 4**-0.5)
        assert not m.outer_bias_table.any()
    x = torch.randn(2, 8, 12, 8)
    mask = window_attention_mask(8, 12, 4, shift, x.device, NEG_INF)
    out = m(x, shift, mask)
    if not shift:  # the formula itself, one head at a time
        xw = windows(x, 4)
        expect = torch.cat([
            F.softmax(xh @ xh.transpose(1, 2) / 2., -1) @ xh
            for xh in xw.split(4, -1)
        ], -1)
        expect = unwindows(expect, 2, 8, 12, 4)
    else:
        expect = reference_lsla(m, x, shift)
    torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('attn_mode', ['qxx', 'qkv', 'qxv', 'qkx'])
@pytest.mark.parametrize('shift', [0, 2])
def test_every_switch_matches_the_formula(attn_mode, shift):
    torch.manual_seed(1)
    for scale_mode in ('fixed', 'dynamic'):
        for outer in (False, True):
            m = LSLA(12, 3, window_size=4, attn_mode=attn_mode,
                     scale_mode=scale_mode, outer_bias=outer).eval()
            randomise_tables(m)
            x = torch.randn(2, 8, 8, 12)
            out = m(x, shift, window_attention_mask(8, 8, 4, shift, x.device,
                                                    NEG_INF))
            torch.testing.assert_close(out, reference_lsla(m, x, shift),
                                       rtol=1e-5, atol=1e-5)


def test_fused_path_is_taken_only_without_ds_and_outer_bias(monkeypatch):
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(F, 'scaled_dot_product_attention',
                        lambda *a, **k: calls.append(1) or sdpa(*a, **k))
    x = torch.randn(1, 8, 8, 8)
    for scale_mode, outer, fused in (('fixed', False, True),
                                     ('fixed', True, False),
                                     ('dynamic', False, False)):
        calls.clear()
        m = LSLA(8, 2, 4, scale_mode=scale_mode, outer_bias=outer)
        m(x, 2, window_attention_mask(8, 8, 4, 2, x.device, NEG_INF))
        assert m.fused == fused and bool(calls) == fused


def test_outer_bias_is_added_after_softmax_and_masked():
    """Rows of the final weights sum to 1 + the outer bias over the pairs
    that are not masked; masked pairs (shift regions, padding) have weight
    exactly 0, whatever the biases and logits there."""
    torch.manual_seed(2)
    m = LSLA(8, 2, window_size=4).eval()
    randomise_tables(m)
    h, w, shift = 6, 10, 2  # padded to 8 x 12, shifted
    x = F.pad(torch.randn(1, h, w, 8), (0, 0, 0, 2, 0, 2))
    x = torch.roll(x, (-shift, -shift), (1, 2))
    keep = window_attention_mask(h, w, 4, shift, x.device) == 0
    mask = torch.zeros(keep.shape).masked_fill_(~keep, float('-inf'))
    q, k, _ = m.qkv(windows(x, 4))
    attn = m.attention_weights(q, k, mask)  # (nW, heads, N, N)
    assert (attn[~keep[:, None].expand_as(attn)] == 0).all()
    outer = m._table('outer_bias_table')
    expect = 1 + (outer * keep[:, None]).sum(-1)
    torch.testing.assert_close(attn.sum(-1), expect)
    assert not torch.allclose(attn.sum(-1), torch.ones(()))
    # huge biases on masked pairs change nothing
    before = attn.clone()
    with torch.no_grad():
        for name in TABLES:
            getattr(m, name).mul_(50)
    attn = m.attention_weights(q, k, mask)
    assert (attn[~keep[:, None].expand_as(attn)] == 0).all()
    assert not torch.equal(before, attn)
    # and no gradient reaches the tables through masked pairs
    m.zero_grad()
    sel = ~keep[:, None].expand_as(attn)
    (m.attention_weights(q, k, mask)[sel]).sum().backward()
    for name in TABLES:
        assert not getattr(m, name).grad.any(), name


# ------------------------------------------------ memory-light training ----


def graph_names(out):
    seen, todo = set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in seen:
            seen.add(fn)
            todo += [f for f, _ in fn.next_functions]
    return {fn.name() for fn in seen}


@pytest.mark.parametrize('attn_mode', ['qxx', 'qkv'])
@pytest.mark.parametrize('shift', [0, 2])
@pytest.mark.parametrize('size', [(8, 12), (6, 9)])
def test_recomputed_attention_gradients(attn_mode, shift, size,
                                        monkeypatch):
    """float64, training: LimitedAttentionFunction (the weights recomputed
    in backward) gives the outputs and gradients of the plain ops (and, on
    window multiples, of the formula), for every scale / bias switch."""
    torch.manual_seed(5)
    x = torch.randn(2, *size, 12, dtype=torch.float64)
    mask = window_attention_mask(*size, 4, shift, x.device, NEG_INF,
                                 torch.float64)
    for scale_mode, outer in (('dynamic', True), ('fixed', True),
                              ('dynamic', False)):
        m = LSLA(12, 3, 4, attn_mode=attn_mode, scale_mode=scale_mode,
                 outer_bias=outer).double().train()
        randomise_tables(m)
        params = [x.requires_grad_()] + list(m.parameters())
        grad = torch.randn(2, *size, 12, dtype=torch.float64)
        results = []
        for plain in (False, True):
            if plain:
                monkeypatch.setattr(lsla_module, 'records_grad',
                                    lambda *a: False)
            out = m(x, shift, mask)
            names = graph_names(out)
            assert ('LimitedAttentionFunctionBackward' in names) != plain
            results.append((out, torch.autograd.grad(out, params, grad)))
            if size == (8, 12):
                ref = reference_lsla(m, x, shift)
                results.append((ref, torch.autograd.grad(ref, params,
                                                         grad)))
        monkeypatch.undo()
        for other in results[1:]:
            torch.testing.assert_close(results[0], other, rtol=1e-10,
                                       atol=1e-12)


@pytest.mark.parametrize('fixed', [False, True])
def test_limited_attention_gradcheck(fixed):
    torch.manual_seed(6)
    dt = dict(dtype=torch.float64)
    q, k, v = (torch.randn(2, 2, 4, 3, **dt, requires_grad=True)
               for _ in range(3))
    scale = 0.6 if fixed else \
        torch.rand(2, 4, 4, **dt).add_(0.3).requires_grad_()
    inner, outer = (torch.randn(2, 4, 4, **dt, requires_grad=True)
                    for _ in range(2))
    mask = torch.zeros(2, 4, 4, **dt)  # 2 windows, each with masked pairs
    mask[0, :2, 2:] = mask[0, 2:, :2] = mask[1, 3, :3] = NEG_INF
    assert torch.autograd.gradcheck(
        lambda *a: LimitedAttentionFunction.apply(*a, mask),
        (q, k, v, scale, inner, outer), fast_mode=True)
    # keys that are the values (LSA: K = V = X) accumulate both gradients
    assert torch.autograd.gradcheck(
        lambda q, x, o: LimitedAttentionFunction.apply(q, x, x, scale,
                                                       None, o, None),
        (q, k, outer), fast_mode=True)


def test_lsla_block_saves_no_attention_weights():
    """Training saves no ``(B*nW, heads, N, N)`` tensor and no GELU output
    (``mlp_ratio`` x tokens): only the FFN's hidden input is kept."""
    block = LSLABlock(12, 3, 4, shift=True, mlp_ratio=3).train()
    x = torch.randn(1, 8, 8, 12, requires_grad=True)
    mask = window_attention_mask(8, 8, 4, 2, x.device, NEG_INF)
    out, saved = saved_storages(lambda: block(x, 2, mask))
    own = {p.data_ptr() for p in block.parameters()}
    sizes = sorted(n for ptr, n in saved.items() if ptr not in own)
    assert 4 * 3 * 16 * 16 not in sizes  # weights of the 4 windows
    assert sizes.count(64 * 36) == 1  # the FFN's hidden map, once
    assert {'GeluLinearFunctionBackward',
            'LimitedAttentionFunctionBackward'} <= graph_names(out)

    def fail(*args):
        raise AssertionError('a custom Function outside training')

    with pytest.MonkeyPatch.context() as mp, torch.no_grad():
        mp.setattr(LimitedAttentionFunction, 'apply', fail)
        mp.setattr(GeluLinearFunction, 'apply', fail)
        block(x, 2, mask)


def test_gelu_ffn_is_mmcv_ffn():
    """GeluFFN: mmcv's FFN keys and outputs; float64 gradients of the
    recomputed GELU equal the plain ones; gradcheck."""
    torch.manual_seed(7)
    ffn = GeluFFN(6, 10).double().train()
    ref = FFN(6, 10, act_cfg=dict(type='GELU'),
              add_identity=False).double()
    assert ffn.state_dict().keys() == ref.state_dict().keys()
    ref.load_state_dict(ffn.state_dict())
    x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    out = ffn(x)
    assert 'GeluLinearFunctionBackward' in graph_names(out)
    grad = torch.randn_like(out)
    torch.testing.assert_close(
        (out, torch.autograd.grad(out, [x, *ffn.parameters()], grad)),
        (ref(x), torch.autograd.grad(ref(x), [x, *ref.parameters()], grad)),
        rtol=1e-12, atol=1e-14)
    w = torch.randn(4, 10, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    h = torch.randn(3, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(GeluLinearFunction.apply, (h, w, b))


def test_residual_is_mmcv_drop_path():
    """``x + DropPath(y)`` in one op: the same draw and result as mmcv's."""
    block = LSLABlock(8, 2, 4, drop_path_rate=0.5).train()
    x, y = torch.randn(2, 6, 8, 3, 8, dtype=torch.float64).unbind(0)
    torch.manual_seed(8)
    out = block.residual(x, y)
    torch.manual_seed(8)
    ref = x + DropPath(0.5)(y)
    torch.testing.assert_close(out, ref, rtol=1e-15, atol=1e-15)
    assert not torch.equal(out, x + y)
    torch.testing.assert_close(block.eval().residual(x, y), x + y)


def test_training_paths_agree():
    """float64 with_cp gives the same gradients; bf16 autocast the
    gradients of the plain ops under autocast (bf16 rounding)."""
    torch.manual_seed(9)
    x = torch.randn(1, 3, 40, 56, dtype=torch.float64)

    def grads(model, x):
        sum_outputs(model(x)).backward()
        return [p.grad for p in model.parameters()]

    model = ViTLSLA(arch=TINY, drop_path_rate=0.).double().train()
    cp_model = ViTLSLA(arch=TINY, drop_path_rate=0., with_cp=True).double()
    cp_model.load_state_dict(model.state_dict())
    torch.testing.assert_close(grads(cp_model, x), grads(model, x),
                               rtol=1e-10, atol=1e-12)
    m = LSLA(16, 2, 4).train()
    randomise_tables(m)
    x = torch.randn(2, 8, 8, 16, requires_grad=True)
    mask = window_attention_mask(8, 8, 4, 2, x.device, NEG_INF)
    results = []
    for plain in (False, True):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            if plain:
                with pytest.MonkeyPatch.context() as mp:
                    mp.setattr(lsla_module, 'records_grad',
                               lambda *a: False)
                    out = m(x, 2, mask)
            else:
                out = m(x, 2, mask)
        assert out.dtype == torch.bfloat16
        results.append((out, torch.autograd.grad(
            out.float().square().sum(), [x, *m.parameters()])))
    torch.testing.assert_close(results[0], results[1], rtol=2e-2,
                               atol=2e-2)


def noisy_pad(monkeypatch):
    """Make ``F.pad`` fill its padding with large noise instead of zeros."""
    pad = F.pad

    def noisy(t, widths, *args, **kwargs):
        out = pad(t, widths, *args, **kwargs)
        real = pad(torch.ones_like(t), widths, *args, **kwargs) != 0
        return torch.where(real, out, torch.randn_like(out) * 100)

    monkeypatch.setattr(F, 'pad', noisy)


@pytest.mark.parametrize('size', [(5, 9), (7, 7), (13, 3), (1, 1)])
def test_padding_is_invisible(size, monkeypatch):
    """A real token's output does not depend on what the window padding
    holds: noise instead of zeros gives the same outputs."""
    torch.manual_seed(3)
    m = LSLA(8, 2, window_size=4).eval()
    randomise_tables(m)
    x = torch.randn(2, *size, 8)
    outs = {}
    for fill in ('zeros', 'noise'):
        if fill == 'noise':
            noisy_pad(monkeypatch)
        for shift in (0, 2):
            mask = window_attention_mask(*size, 4, shift, x.device,
                                         NEG_INF)
            outs[fill, shift] = m(x, shift, mask)
    for shift in (0, 2):
        torch.testing.assert_close(outs['zeros', shift],
                                   outs['noise', shift])


def test_backbone_padding_invariance(monkeypatch):
    """Through the whole backbone: at 96x160 the window-4 maps of stages 2-3
    (6x10, 3x5) are padded while patch merging never pads (its inputs are
    even), so every F.pad is a window padding."""
    torch.manual_seed(4)
    model = ViTLSLA(arch=TINY, drop_path_rate=0., window_size=4).eval()
    for m in model.modules():
        if isinstance(m, LSLA):
            randomise_tables(m)
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        ref = model(x)
    noisy_pad(monkeypatch)
    with torch.no_grad():
        for a, b in zip(ref, model(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_no_padding_at_224(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError('padded a window-multiple map')

    monkeypatch.setattr(F, 'pad', fail)
    model = ViTLSLA(arch=dict(TINY, embed_dims=4)).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 224, 224))
    assert [o.shape[-1] for o in outs] == [56, 28, 14, 7]


@pytest.mark.parametrize('size', [(1, 1), (7, 7), (31, 31), (1, 45),
                                  (45, 1), (33, 57)])
def test_any_size_ceil(size):
    model = ViTLSLA(arch=TINY).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    for out, s in zip(outs, model.strides):
        assert tuple(out.shape[2:]) == tuple(math.ceil(n / s) for n in size)


def test_shift_rule():
    """Every second block shifts by M // 2, except where the window covers
    the map's short side; shift=False never shifts."""
    model = ViTLSLA(arch=TINY)
    assert [b.shift_size for b in model.stages[0].blocks] == [0, 3]
    model = ViTLSLA(arch=TINY, shift=False)
    assert all(b.shift_size == 0 for s in model.stages for b in s.blocks)


# ----------------------------------------------------------- switches ------


def test_switches_build_the_right_parameters():
    c = 96
    counts = {}
    for mode in ('qxx', 'qkv', 'qxv', 'xxx'):
        for out_proj in (True, False):
            m = LSLA(c, 3, attn_mode=mode, out_proj=out_proj)
            n_proj = sum(ch != 'x' for ch in mode) + out_proj
            tables = 3 * 13 * 13 * 3
            assert sum(p.numel() for p in m.parameters()) == \
                n_proj * (c * c + c) + tables
            counts[mode, out_proj] = n_proj
    # "output projection kept" (paper) and "value projection kept" have the
    # same size: the two collapse into one matrix
    assert counts['qxx', True] == counts['qxv', False]
    m = LSLA(c, 3, scale_mode='fixed', inner_bias=False, outer_bias=False)
    assert not any(hasattr(m, t) for t in TABLES)
    with pytest.raises(ValueError, match='attn_mode'):
        LSLA(c, 3, attn_mode='qkk')
    with pytest.raises(ValueError, match='scale_mode'):
        LSLA(c, 3, scale_mode='learned')


def test_invalid_archs():
    with pytest.raises(ValueError, match='valid keys'):
        ViTLSLA(arch=dict(TINY, window=7))
    with pytest.raises(ValueError, match='same length'):
        ViTLSLA(arch=dict(TINY, num_heads=[1, 2]))
    model = ViTLSLA(arch=dict(base='t', depths=[1, 1, 1, 1]))
    assert model.arch_settings['mlp_ratio'] == 3


# ------------------------------------------------------------- budget ------

#: (params, MACs) at 224 with a 100-class head, as get_flops.py prints them:
#: python tools/analysis_tools/get_flops.py ViTLSLA --arch t --num-classes 100
BUDGETS = {
    't': (19_085_842, 3_400_918_272),
    't-deep': (18_686_743, 3_464_290_560),
    't-swin': (23_360_482, 3_947_033_856),
}


@pytest.mark.parametrize('arch', sorted(BUDGETS))
def test_budget(arch):
    model, _ = build_target('ViTLSLA', arch, 100)
    params = sum(p.numel() for p in model.parameters())
    flops, _ = count_macs(model, torch.rand(1, 3, 224, 224))
    assert params == BUDGETS[arch][0]
    assert flops == BUDGETS[arch][1]
    if arch != 't-swin':  # the paper: 18.9M, 3.5G (+-3%)
        assert abs(params / 18.9e6 - 1) < 0.03
        assert abs(flops / 3.5e9 - 1) < 0.03


def test_default_is_swin_t_but_for_the_mlp_ratio_and_stem():
    """'t' keeps Swin-T's depths, heads, widths and regular/shifted pairs."""
    arch = ViTLSLA.parse_arch('t')
    assert (arch['embed_dims'], arch['depths'], arch['num_heads']) == \
        (96, [2, 2, 6, 2], [3, 6, 12, 24])
    model = ViTLSLA(arch=dict(base='t', embed_dims=8, num_heads=[1] * 4))
    assert [[b.shift_size > 0 for b in s.blocks] for s in model.stages] == \
        [[False, True], [False, True], [False, True] * 3, [False, True]]


# ---------------------------------------------------- loading / LR decay ---


def test_convert_official_is_our_layout(tmp_path):
    src = ViTLSLA(arch=TINY).eval()
    sd = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    sd['head.fc.weight'] = torch.zeros(10, 64)
    converted = ViTLSLA.convert_official({'state_dict': sd})
    assert set(converted) == set(src.state_dict())
    assert ViTLSLA.convert_official(converted).keys() == converted.keys()
    # an mmpretrain classifier checkpoint loads into a detector backbone
    path = tmp_path / 'cls.pth'
    torch.save({'state_dict': sd, 'meta': {}}, path)
    dst = ViTLSLA(arch=TINY, out_indices=(1, 3))
    report = load_pretrained(dst, str(path))
    assert not report.missing and not report.mismatched
    for k, v in dst.state_dict().items():
        torch.testing.assert_close(v, src.state_dict()[k], msg=k)


def test_tables_resized_for_another_window(tmp_path):
    src = ViTLSLA(arch=TINY)
    path = tmp_path / 'w7.pth'
    torch.save(src.state_dict(), path)
    dst = ViTLSLA(arch=TINY, window_size=12)
    report = load_pretrained(dst, str(path))
    assert len(report.resized) == 3 * sum(TINY['depths'])
    assert not report.mismatched
    # resizing a constant table keeps it constant (the DS init survives)
    ds = dst.stages[0].blocks[0].attn.dynamic_scale_table
    torch.testing.assert_close(ds, torch.full_like(ds, 4**-0.5))


def test_layer_depth():
    model = ViTLSLA(arch='t')
    assert model.param_position('stem.0.conv.weight') == (0, -1)
    assert model.param_position('stages.2.downsample.norm.weight') == (2, -1)
    assert model.param_position(
        'stages.2.blocks.5.attn.outer_bias_table') == (2, 5)
    assert model.param_position('norm3.weight') == (None, 0)
    ids = {n: model.get_layer_depth(n)[0] for n, _ in
           model.named_parameters()}
    assert ids['stem.0.conv.weight'] == 0
    assert ids['stages.2.blocks.5.attn.in_proj.weight'] == 3 + 5 // 3
    assert ids['stages.3.blocks.0.ffn.layers.1.weight'] == 12
    assert ids['norm3.weight'] == 13


def test_default_init():
    model = ViTLSLA(arch=TINY)
    model.init_weights()
    attn = model.stages[0].blocks[0].attn
    assert attn.in_proj.bias.abs().sum() == 0
    assert 0.01 < attn.in_proj.weight.std() < 0.03
    assert torch.all(attn.dynamic_scale_table == 4**-0.5)
    assert not attn.outer_bias_table.any()
    assert 0 < attn.relative_position_bias_table.std() < 0.03
