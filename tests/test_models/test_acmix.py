"""ACmix backbones: param counts, the memory-light attention against the
official unfold formula, borders and odd sizes, the converters, and parity
with the official modules (fixtures in tests/data/acmix, see its README)."""
import functools
import json
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmhybrid.models.backbones.acmix import (ACmix, ResNetACmix, SwinACmix,
                                             WindowACmix, position_grid,
                                             shift_kernel)
from mmhybrid.models.layers import sliding_window_attention as swa_module
from mmhybrid.models.layers.sliding_window_attention import (
    reflect_pad2d, sliding_window_attention)
from mmhybrid.models.layers.swin import window_attention_mask
from mmhybrid.models.utils import load_pretrained, load_state_dict_report

DATA = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'acmix')

# --------------------------------------------------------------- helpers ----


def iterated_reflection_pad(x, pad):
    """nn.ReflectionPad2d applied in steps it accepts (pad < side); a 1-px
    side is replicated."""
    for dim in (-2, -1):
        left = pad
        while left:
            n = x.shape[dim]
            if n == 1:
                x = x.repeat_interleave(2 * left + 1, dim) if dim == -1 \
                    else x.expand(*x.shape[:-2], 2 * left + 1,
                                  x.shape[-1]).contiguous()
                break
            step = min(left, n - 1)
            p = (0, 0, step, step) if dim == -2 else (step, step, 0, 0)
            x = nn.ReflectionPad2d(p)(x)
            left -= step
    return x


def unfold_attention_reference(q, k, v, pe, kernel=7, stride=1):
    """The official attention path (ResNet/test_bottleneck.py): unfold the
    reflection-padded keys, values and position encodings."""
    n, d, h, w = q.shape
    ho, wo = -(-h // stride), -(-w // stride)
    pad = kernel // 2
    unfold = nn.Unfold(kernel, padding=0, stride=stride)
    q_s, pe_q = q[..., ::stride, ::stride], pe[..., ::stride, ::stride]
    uk = unfold(iterated_reflection_pad(k, pad)).view(n, d, -1, ho, wo)
    upe = unfold(iterated_reflection_pad(pe, pad)).view(
        pe.shape[0], d, -1, ho, wo)
    att = (q_s.unsqueeze(2) * (uk + pe_q.unsqueeze(2) - upe)).sum(1)
    att = att.softmax(1)
    uv = unfold(iterated_reflection_pad(v, pad)).view(n, d, -1, ho, wo)
    return (att.unsqueeze(1) * uv).sum(2)


def acmix_reference(m: ACmix, x):
    """The official ACmix forward, written with separate q/k/v convs."""
    b, _, h, w = x.shape
    c, head, hd = m.out_channels, m.head, m.head_dim
    wq, wk, wv = m.qkv.weight.split(c)
    bq, bk, bv = m.qkv.bias.split(c)
    q, k, v = (F.conv2d(x, w_, b_) for w_, b_ in
               ((wq, bq), (wk, bk), (wv, bv)))
    pe = m.conv_p(position_grid(h, w, x.dtype, x.device))
    att = unfold_attention_reference(
        q.reshape(b * head, hd, h, w) * hd**-0.5,
        k.reshape(b * head, hd, h, w), v.reshape(b * head, hd, h, w), pe,
        m.kernel_att, m.stride)
    att = att.reshape(b, c, *att.shape[-2:])
    f_all = m.fc(torch.cat([t.reshape(b, head, hd, h * w)
                            for t in (q, k, v)], 1))
    f_conv = f_all.permute(0, 2, 1, 3).reshape(b, -1, h, w)
    return m.rate1 * att + m.rate2 * m.dep_conv(f_conv)


def window_acmix_reference(m: WindowACmix, x):
    """Unshifted WindowACmix written without padding: attention inside each
    window clipped at the map border, conv path on the unpadded map."""
    b, h, w, c = x.shape
    ws, nh, hd = m.window_size, m.num_heads, m.head_dim
    qkv = m.qkv(x)
    f_all = qkv.reshape(b, h * w, 3 * nh, hd).permute(0, 2, 1, 3)
    f_conv = m.fc(f_all).permute(0, 3, 1, 2).reshape(b, 9 * hd, h, w)
    out_conv = m.dep_conv(f_conv).permute(0, 2, 3, 1)
    out = torch.zeros(b, h, w, c, dtype=x.dtype)
    for y0 in range(0, h, ws):
        for x0 in range(0, w, ws):
            win = qkv[:, y0:y0 + ws, x0:x0 + ws]
            wh, ww = win.shape[1:3]
            yy, xx = torch.meshgrid(torch.arange(wh), torch.arange(ww),
                                    indexing='ij')
            yy, xx = yy.flatten(), xx.flatten()
            idx = (yy[:, None] - yy[None] + ws - 1) * (2 * ws - 1) + \
                (xx[:, None] - xx[None] + ws - 1)
            bias = m.relative_position_bias_table[idx].permute(2, 0, 1)
            t = win.reshape(b, wh * ww, 3, nh, hd).permute(2, 0, 3, 1, 4)
            attn = (t[0] * m.scale) @ t[1].transpose(-2, -1) + bias
            o = (attn.softmax(-1) @ t[2]).transpose(1, 2).reshape(
                b, wh * ww, c)
            out[:, y0:y0 + ws, x0:x0 + ws] = m.proj(o).view(b, wh, ww, c)
    return m.rate1 * out + m.rate2 * out_conv


def randomize_(model):
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)


# ------------------------------------------------------------- archs -------


@pytest.mark.parametrize('arch,count', [('26', 8_438_816),
                                        ('38', 12_361_896),
                                        ('50', 16_284_976)])
def test_resnet_param_count(arch, count):
    # official ACmix_ResNet(layers) minus its classifier fc
    with torch.device('meta'):  # counts and shapes only
        model = ResNetACmix(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == count
    assert model.out_channels == [256, 512, 1024, 2048]
    assert model.strides == [4, 8, 16, 32]


@pytest.mark.parametrize('arch,count', [('t', 27_880_908),
                                        ('s', 49_576_080)])
def test_swin_param_count(arch, count):
    # official SwinTransformer_acmix minus head; its final norm is our norm3
    # and norm0-2 (2 x (96 + 192 + 384) parameters) are the extra outputs
    with torch.device('meta'):  # counts and shapes only
        model = SwinACmix(arch=arch)
    assert sum(p.numel() for p in model.parameters()) == count + 1344
    assert model.out_channels == [96, 192, 384, 768]
    assert SwinACmix.parse_arch({'t': 'tiny', 's': 'small'}[arch]) == \
        SwinACmix.parse_arch(arch)


def test_invalid_arch_dicts():
    with pytest.raises(ValueError, match='depths'):
        ResNetACmix(arch=dict(base_channels=8))
    with pytest.raises(ValueError, match='same length'):
        SwinACmix(arch=dict(embed_dims=8, depths=[1, 1], num_heads=[1]))


def test_init_follows_official():
    # Swin keeps the shift initialisation, ResNet's Kaiming loop overwrites
    swin = SwinACmix(arch=dict(embed_dims=8, depths=[1, 1, 1, 1],
                               num_heads=[1, 1, 2, 2]))
    resnet = ResNetACmix(arch=dict(depths=[1, 1, 1, 1], base_channels=8))
    swin.init_weights()
    resnet.init_weights()
    for m in swin.modules():
        if isinstance(m, WindowACmix):
            assert torch.equal(m.dep_conv.weight,
                               shift_kernel(3, m.embed_dims))
            assert m.dep_conv.bias is None
            assert m.rate1.item() == m.rate2.item() == 0.5
    for m in resnet.modules():
        if isinstance(m, ACmix):
            assert not torch.equal(m.dep_conv.weight,
                                   shift_kernel(3, m.out_channels))
            assert m.dep_conv.bias is None
            assert m.rate1.item() == m.rate2.item() == 0.5


def test_shift_kernel_is_shift_and_sum():
    # the group conv with the shift kernel sums the k*k shifted maps
    hd, head = 2, 3
    f = torch.randn(1, 9 * hd, 5, 6)
    out = F.conv2d(f, shift_kernel(3, hd * head), padding=1, groups=hd)
    fp = F.pad(f, (1, 1, 1, 1))
    for o in range(hd * head):
        g = o // head
        ref = sum(fp[0, g * 9 + j, j // 3:j // 3 + 5, j % 3:j % 3 + 6]
                  for j in range(9))
        torch.testing.assert_close(out[0, o], ref)


# ---------------------------------------------------- local attention ------


@pytest.mark.parametrize('size', [(12, 10), (14, 10), (15, 9), (3, 2),
                                  (1, 1), (2, 5)])
def test_reflect_pad_matches_reflection_pad2d(size):
    x = torch.randn(2, 3, *size)
    ref = iterated_reflection_pad(x, 3)
    torch.testing.assert_close(reflect_pad2d(x, 3), ref, rtol=0, atol=0)
    if min(size) > 3:
        torch.testing.assert_close(reflect_pad2d(x, 3),
                                   nn.ReflectionPad2d(3)(x), rtol=0, atol=0)


@pytest.mark.parametrize('size', [(12, 10), (14, 10), (15, 9), (3, 2),
                                  (1, 1), (2, 5), (56, 56)])
@pytest.mark.parametrize('stride', [1, 2])
def test_local_attention_equals_unfold(size, stride):
    """Forward and backward of the memory-light path vs the unfold formula,
    float64, including maps smaller than the window and odd stride-2."""
    n, d = 6, 5
    q, k, v = (torch.randn(n, d, *size, dtype=torch.float64,
                           requires_grad=True) for _ in range(3))
    pe = torch.randn(1, d, *size, dtype=torch.float64, requires_grad=True)
    out = sliding_window_attention(q, k, v, pe, 7, stride)
    ref = unfold_attention_reference(q, k, v, pe, 7, stride)
    assert out.shape == ref.shape == (n, d, -(-size[0] // stride),
                                      -(-size[1] // stride))
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v, pe), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v, pe), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_sliding_window_attention_chunks_and_gradcheck(monkeypatch):
    """Query rows processed in one chunk or one by one give the same values
    and gradients; gradcheck on a map smaller than the window."""
    args = [torch.randn(n, 3, 19, 9, dtype=torch.float64, requires_grad=True)
            for n in (5, 5, 5, 1)]
    w = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    for stride in (1, 2):  # 19 / 10 query rows, one per chunk
        out = sliding_window_attention(*args, 7, stride, 0.5, w)
        grads = torch.autograd.grad(out.square().sum(), [*args, w])
        monkeypatch.setattr(swa_module, 'CHUNK', 1)
        out_c = sliding_window_attention(*args, 7, stride, 0.5, w)
        grads_c = torch.autograd.grad(out_c.square().sum(), [*args, w])
        monkeypatch.undo()
        torch.testing.assert_close(out_c, out, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads_c, grads):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # gradcheck where ReflectionPad2d is not defined (2 x 3 map, 7x7 window)
    q, k, v = (torch.randn(2, 2, 2, 3, dtype=torch.float64,
                           requires_grad=True) for _ in range(3))
    pe = torch.randn(1, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: sliding_window_attention(*t, 7, 2, 0.5, w),
        (q, k, v, pe))


@pytest.mark.parametrize('size,stride', [((12, 10), 1), ((14, 10), 2),
                                         ((15, 9), 2), ((3, 2), 1),
                                         ((2, 5), 2), ((1, 1), 2)])
def test_acmix_module_equals_official_formula(size, stride):
    m = ACmix(16, 16, 7, 4, 3, stride).double()
    randomize_(m)
    x = torch.randn(2, 16, *size, dtype=torch.float64)
    out = m(x)
    ref = acmix_reference(m, x)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
    # stride-2 on odd sizes: ceil, the size of dep_conv and the shortcut
    shortcut = nn.Conv2d(16, 16, 1, stride)(x.float())
    assert out.shape[-2:] == shortcut.shape[-2:]


@pytest.mark.parametrize('stride', [1, 2])
def test_acmix_gradcheck_float64(stride):
    """The module's gradients (the hand-written attention backward included)
    in float64, w.r.t. the input and every parameter, on an odd map smaller
    than the window."""
    m = ACmix(4, 4, 7, 2, 3, stride).double()
    randomize_(m)
    names = [n for n, _ in m.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]
    x = torch.randn(1, 4, 5, 3, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(m, dict(zip(names, ps)), (x, ))

    assert torch.autograd.gradcheck(f, (x, *params), fast_mode=True)


def test_resnet_acmix_float64_and_small_maps():
    model = ResNetACmix(arch=dict(depths=[1, 1, 1, 1], base_channels=8))
    model.double().eval()
    with torch.no_grad():
        # 33x17: odd stride-2 inputs and 2x1 maps at stride 32
        outs = model(torch.rand(1, 3, 33, 17, dtype=torch.float64))
    assert [tuple(o.shape[-2:]) for o in outs] == [(9, 5), (5, 3), (3, 2),
                                                   (2, 1)]
    assert all(o.dtype == torch.float64 for o in outs)


# --------------------------------------------------------- Swin borders ----


@pytest.mark.parametrize('size', [(9, 12), (7, 7), (5, 3), (14, 15)])
def test_window_acmix_padding_is_invisible(size):
    m = WindowACmix(16, 2, 7).double()
    randomize_(m)
    x = torch.randn(2, *size, 16, dtype=torch.float64)
    out = m(x, 0, window_attention_mask(*size, 7, 0, x.device))
    # -100 leaves exp(-100) of weight on padded keys
    torch.testing.assert_close(out, window_acmix_reference(m, x),
                               rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize('size', [(14, 14), (16, 19), (9, 12)])
def test_shift_mask_never_attends_padding(size):
    h, w = size
    ws, shift = 7, 3
    mask = window_attention_mask(h, w, ws, shift, torch.device('cpu'))
    hp, wp = h + (-h) % ws, w + (-w) % ws
    real = torch.zeros(hp, wp, dtype=torch.bool)
    real[:h, :w] = True
    real = torch.roll(real, (-shift, -shift), (0, 1))
    real = real.view(hp // ws, ws, wp // ws, ws).transpose(1, 2).reshape(
        -1, ws * ws)
    pairs = real.unsqueeze(2) & ~real.unsqueeze(1)  # real query, padded key
    assert (mask[pairs] == -100).all()
    if (hp, wp) == (h, w):
        # no padding: exactly the official Swin mask
        img = torch.zeros(h, w)
        cnt = 0
        for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            for wsl in (slice(0, -ws), slice(-ws, -shift),
                        slice(-shift, None)):
                img[hs, wsl] = cnt
                cnt += 1
        win = img.view(h // ws, ws, w // ws, ws).transpose(1, 2).reshape(
            -1, ws * ws)
        ref = (win.unsqueeze(1) - win.unsqueeze(2)).ne(0).float() * -100.
        torch.testing.assert_close(mask, ref, rtol=0, atol=0)
    assert window_attention_mask(14, 21, 7, 0, torch.device('cpu')) is None


def test_swin_shift_rule(monkeypatch):
    """No shift when min(H, W) <= window (official rule), else ws // 2."""
    model = SwinACmix(arch=dict(embed_dims=8, depths=[2, 2, 2, 2],
                                num_heads=[1, 1, 2, 2])).eval()
    seen = []
    for i, stage in enumerate(model.stages):
        for j, block in enumerate(stage.blocks):
            fwd = block.forward

            def record(x, shift, mask, fwd=fwd, i=i, j=j):
                seen.append((i, j, tuple(x.shape[1:3]), shift))
                return fwd(x, shift, mask)

            monkeypatch.setattr(block, 'forward', record)
    with torch.no_grad():
        model(torch.rand(1, 3, 224, 120))
    assert seen == [(0, 0, (56, 30), 0), (0, 1, (56, 30), 3),
                    (1, 0, (28, 15), 0), (1, 1, (28, 15), 3),
                    (2, 0, (14, 8), 0), (2, 1, (14, 8), 3),
                    (3, 0, (7, 4), 0), (3, 1, (7, 4), 0)]


def test_swin_odd_and_tiny_inputs():
    model = SwinACmix(arch=dict(embed_dims=8, depths=[1, 2, 1, 1],
                                num_heads=[1, 1, 2, 2])).eval()
    with torch.no_grad():
        for size in [(5, 3), (31, 17), (33, 65)]:
            outs = model(torch.rand(1, 3, *size))
            for o, s in zip(outs, model.strides):
                assert tuple(o.shape[-2:]) == (-(-size[0] // s),
                                               -(-size[1] // s))
                assert torch.isfinite(o).all()


# ------------------------------------------------------- training path -----
# With autograd recording, the attention paths and the conv path are
# Functions that save less and recompute in backward; without (eval,
# no-grad, tracing, export) they are the plain ops. Same values, same
# gradients.


def _plain_ops(monkeypatch):
    """Make every ACmix op take its plain path, with autograd through it."""
    from mmhybrid.models.backbones import acmix
    from mmhybrid.models.layers import window_msa as msa_module
    for module in (acmix, swa_module, msa_module):
        monkeypatch.setattr(module, 'records_grad', lambda *t: False)


def _tiny(name, randomize=True, **kwargs):
    torch.manual_seed(0)
    if name == 'resnet':
        model = ResNetACmix(arch=dict(depths=[1, 1, 1, 1], base_channels=8),
                            **kwargs)
    else:
        model = SwinACmix(arch=dict(embed_dims=8, depths=[2, 2, 2, 2],
                                    num_heads=[1, 2, 2, 4]),
                          drop_path_rate=0., **kwargs)
    model.init_weights()
    if randomize:
        randomize_(model)
    return model.train()


def _outputs_and_grads(model, x):
    outs = model(x)
    loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(
        o)).sum() for o in outs)
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    return [o.detach() for o in outs], grads


@pytest.mark.parametrize('name', ['resnet', 'swin'])
@pytest.mark.parametrize('with_cp,channels_last', [(False, False),
                                                   (True, True)])
def test_training_path_equals_plain_ops(name, with_cp, channels_last,
                                        monkeypatch):
    """float64, odd sizes: padded windows and shifts in Swin stages 0-1
    (17 x 16, 9 x 8), odd stride-2 maps and maps below the window in
    ResNet."""
    model = _tiny(name, with_cp=with_cp).double()
    x = torch.randn(2, 3, 68, 61, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    outs, grads = _outputs_and_grads(model, x)
    _plain_ops(monkeypatch)
    ref_outs, ref_grads = _outputs_and_grads(model, x)
    for a, b in zip(outs + list(grads), ref_outs + list(ref_grads)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('name', ['resnet', 'swin'])
def test_training_path_autocast(name, monkeypatch):
    """bf16 autocast: float32 gradients, as close to the float32 model's
    as the plain ops' bf16 gradients are (all gradients together; this
    untrained model's bf16 gradients are 30-50 % from float32 for
    ResNet-ACmix on both paths, which round differently: the sliding-window
    attention sums its window's rows one by one in backward; measured
    ratio 1.04-1.12 over three inputs)."""
    model = _tiny(name, randomize=False)
    x = torch.randn(1, 3, 64, 72, requires_grad=True)
    _, fp32_grads = _outputs_and_grads(model, x)
    with torch.autocast('cpu', torch.bfloat16):
        outs, grads = _outputs_and_grads(model, x)
        _plain_ops(monkeypatch)
        _, ref_grads = _outputs_and_grads(model, x)
    assert outs[0].dtype == torch.bfloat16
    for g, p in zip(grads, [x, *model.parameters()]):
        assert g.dtype == p.dtype == torch.float32
    grads, ref_grads, fp32_grads = (torch.cat([g.flatten() for g in gs])
                                    for gs in (grads, ref_grads, fp32_grads))
    assert (grads - fp32_grads).norm() <= \
        1.25 * (ref_grads - fp32_grads).norm() + 1e-6 * fp32_grads.norm()


def test_window_msa_and_conv_path_gradcheck():
    from mmhybrid.models.backbones.acmix import acmix_conv_path
    from mmhybrid.models.layers.window_msa import window_msa
    f64 = dict(dtype=torch.float64, requires_grad=True)
    qkv = torch.randn(2, 7, 14, 3 * 2 * 3, **f64)  # 2 heads of 3
    bias = torch.randn(2, 49, 49, **f64)
    mask = window_attention_mask(7, 14, 7, 3, qkv.device).double()
    assert torch.autograd.gradcheck(
        lambda *t: window_msa(*t, mask, 7, 2, 0.5), (qkv, bias),
        fast_mode=True)
    x = torch.randn(2, 6, 3, 5, 4, **f64)  # (B, 3 heads, d, H, W)
    fc_w, fc_b = torch.randn(9, 6, 1, 1, **f64), torch.randn(9, **f64)
    conv_w = torch.randn(6, 9, 3, 3, **f64)
    valid = torch.rand(5, 4) > 0.3
    for stride in (1, 2):
        assert torch.autograd.gradcheck(
            lambda *t: acmix_conv_path(*t, stride, valid),
            (x, fc_w, fc_b, conv_w), fast_mode=True)


# --------------------------------------------------------- converters ------


def _official_dict(name):
    with open(osp.join(DATA, 'official_keys.json')) as f:
        spec = json.load(f)[name]
    return {k: torch.zeros(shape, dtype=getattr(torch, dtype))
            for k, (shape, dtype) in spec.items()}


@pytest.mark.parametrize('name,cls,arch', [
    ('resnet_acmix_50', ResNetACmix, '50'),
    ('swin_acmix_t', SwinACmix, 't'),
    ('swin_acmix_s', SwinACmix, 's'),
])
def test_converter_keys_shapes_idempotent(name, cls, arch):
    official = _official_dict(name)
    before = dict(official)
    converted = cls.convert_official(official)
    assert official.keys() == before.keys()  # pure
    assert all(official[k] is before[k] for k in official)
    again = cls.convert_official(converted)
    assert again.keys() == converted.keys()
    assert all(again[k] is converted[k] or torch.equal(again[k], converted[k])
               for k in again)
    with torch.device('meta'):
        own = cls(arch=arch).state_dict()
    assert not any('dep_conv.bias' in k for k in official)
    assert set(converted) <= set(own)
    missing = set(own) - set(converted)
    if cls is SwinACmix:
        assert missing == {f'norm{i}.{p}' for i in range(3)
                           for p in ('weight', 'bias')}
    else:
        assert not missing
    for k, v in converted.items():
        assert v.shape == own[k].shape, k
    same = cls.convert_official(own)  # our own layout passes through
    assert same.keys() == own.keys() and all(same[k] is own[k] for k in own)


def test_resnet_converter_concatenates_qkv():
    sd = {f'layer2.0.conv2.conv{i}.{p}': torch.full(
        (3, 5, 1, 1) if p == 'weight' else (3, ), float(i))
        for i in (1, 2, 3) for p in ('weight', 'bias')}
    out = ResNetACmix.convert_official(sd)
    assert set(out) == {'stages.1.0.conv2.qkv.weight',
                        'stages.1.0.conv2.qkv.bias'}
    assert out['stages.1.0.conv2.qkv.bias'].tolist() == [1.] * 3 + [2.] * 3 \
        + [3.] * 3
    with pytest.raises(KeyError):
        ResNetACmix.convert_official(
            {'layer1.0.conv2.conv1.weight': torch.zeros(1)})


def test_adapt_relative_position_table():
    official = _official_state('swin')
    model = SwinACmix(arch=_swin_arch(), window_size=12)
    report = load_state_dict_report(model, model.convert_official(official))
    assert len(report.resized) == 8 and not report.mismatched
    table = model.stages[0].blocks[0].attn.relative_position_bias_table
    assert table.shape == (23 * 23, 1)
    src = official['layers.0.blocks.0.attn.relative_position_bias_table']
    # the centre (relative offset 0) keeps its value under bicubic resizing
    torch.testing.assert_close(table[11 * 23 + 11], src[6 * 13 + 6],
                               rtol=0, atol=1e-6)


# ------------------------------------------------------------- parity ------
# Official modules in float64 on fp16-exact weights and inputs (see
# tests/data/acmix/README.md): ours in float64 must agree to 1e-10; one
# float32 check per model gets 10x the official model's own measured
# fp32-vs-fp64 error.
FP64_TOL = 1e-10
FP32_FACTOR = 10


@functools.lru_cache()
def _fixture(name):
    return torch.load(osp.join(DATA, f'{name}_acmix_fp64.pt'))


def _official_state(name, with_head=False):
    """The official model's state dict in float32 (the derived Swin
    buffers, which the converter drops, re-inserted as placeholders)."""
    data = _fixture(name)
    state = {**data['state_dict'], **(data['cls_extra'] if with_head else {})}
    state = {k: v.float() if v.is_floating_point() else v
             for k, v in state.items()}
    for k, (shape, dtype) in data['buffers'].items():
        state[k] = torch.zeros(shape, dtype=getattr(torch, dtype[6:]))
    return state


def _input(case, dtype):
    images = torch.load(osp.join(DATA, 'inputs.pt'))['images']
    return (images[case].to(dtype) - 128) / 64  # exact in fp32 and fp64


def _swin_arch():
    cfg = _fixture('swin')['config']
    return dict(embed_dims=cfg['embed_dims'], depths=cfg['depths'],
                num_heads=cfg['num_heads'])


def _resnet_acmix():
    cfg = _fixture('resnet')['config']
    model = ResNetACmix(
        arch=dict(depths=cfg['depths'], base_channels=cfg['base_channels']),
        kernel_att=cfg['kernel_att'], head=cfg['head'],
        kernel_conv=cfg['kernel_conv']).eval()
    report = load_state_dict_report(
        model, model.convert_official(_official_state('resnet', True)))
    assert not (report.missing or report.unexpected or report.mismatched)
    return model


def _swin_acmix(tmp_path):
    """Loaded as a user would: official classification checkpoint (with
    head and derived buffers, 'model' wrapper) through init_cfg."""
    path = tmp_path / 'official.pth'
    torch.save({'model': _official_state('swin', True), 'epoch': 300}, path)
    model = SwinACmix(
        arch=_swin_arch(), window_size=_fixture('swin')['config'][
            'window_size'], drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    report = load_pretrained(model, str(path))
    assert report.missing == [f'norm{i}.{p}' for i in range(3)
                              for p in ('bias', 'weight')]
    assert not report.unexpected and not report.mismatched
    return model.eval()


def _resnet_outputs(model, x):
    """Stage outputs (official ``layer1..4``) and the official classifier's
    logits: global average pool, then ``fc`` (from ``cls_extra``)."""
    extra = _fixture('resnet')['cls_extra']
    with torch.no_grad():
        outs = list(model(x))
    logits = F.linear(outs[-1].mean((2, 3)), extra['fc.weight'].to(x),
                      extra['fc.bias'].to(x))
    return outs, logits


def _swin_outputs(model, x):
    """Official stage outputs (``layers[i].blocks[-1]``, before patch
    merging), the final ``norm`` (our ``norm3``) and the official
    classifier's logits: token average of ``norm``, then ``head``."""
    extra = _fixture('swin')['cls_extra']
    outs = []
    with torch.no_grad():
        t = model.forward_stem(x)
        for i in range(model.num_stages):
            t, out = model.forward_stage(i, t)
            outs.append(t.permute(0, 3, 1, 2))
    outs.append(out)
    logits = F.linear(out.mean((2, 3)), extra['head.weight'].to(x),
                      extra['head.bias'].to(x))
    return outs, logits


def _max_errors(outs, logits, ref):
    """Max abs difference per output (on the stored ``::step`` subsample)
    and of the logits."""
    errs = []
    for out, step, want in zip(outs, ref['steps'], ref['outputs']):
        out = out[..., ::step, ::step]
        assert out.shape == want.shape
        errs.append((out.double() - want).abs().max().item())
    assert logits.shape == ref['logits'].shape
    return errs, (logits.double() - ref['logits']).abs().max().item()


@pytest.mark.parametrize('case', ['224', '224x448', '64x96'])
def test_parity_resnet_acmix(case):
    """4 stage outputs and the official classifier's logits, float64: odd
    (7 x 14) and small (2 x 3) last stages, batch 2, stride-2 ACmix."""
    model = _resnet_acmix().double()
    ref = _fixture('resnet')['cases'][case]
    outs, logits = _resnet_outputs(model, _input(case, torch.float64))
    assert all(o.dtype == torch.float64 for o in outs)
    errs, err_logits = _max_errors(outs, logits, ref)
    assert max(errs + [err_logits]) <= FP64_TOL, (errs, err_logits)


@pytest.mark.parametrize('case', ['224', '224x448'])
def test_parity_swin_acmix(case, tmp_path):
    """4 stage outputs, the final norm and the logits, float64: shifted
    blocks in stages 0-2, no shift in the 7 x 7 / 7 x 14 last stage."""
    model = _swin_acmix(tmp_path).double()
    ref = _fixture('swin')['cases'][case]
    outs, logits = _swin_outputs(model, _input(case, torch.float64))
    assert all(o.dtype == torch.float64 for o in outs)
    errs, err_logits = _max_errors(outs, logits, ref)
    assert max(errs + [err_logits]) <= FP64_TOL, (errs, err_logits)


@pytest.mark.parametrize('name', ['resnet', 'swin'])
def test_parity_fp32(name, tmp_path):
    """float32 against the official float64 outputs, within 10x the
    official float32 model's own error there (measured, in the fixture)."""
    if name == 'resnet':
        outs, logits = _resnet_outputs(_resnet_acmix(),
                                       _input('224', torch.float32))
    else:
        outs, logits = _swin_outputs(_swin_acmix(tmp_path),
                                     _input('224', torch.float32))
    ref = _fixture(name)['cases']['224']
    errs, err_logits = _max_errors(outs, logits, ref)
    for err, official in zip(errs + [err_logits],
                             ref['fp32_error']['outputs'] +
                             [ref['fp32_error']['logits']]):
        assert err <= FP32_FACTOR * official, (errs, err_logits)
