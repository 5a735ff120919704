"""One contract, run over every registered mmhybrid backbone.

Every backbone must appear in ``TINY`` (a cheap arch for CPU tests); a new
backbone that is registered without an entry fails ``test_all_covered``.
"""
import math

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

import mmhybrid  # noqa: F401
from mmhybrid.models.backbones import BaseBackbone
from mmhybrid.registry import MODELS
from tests import example_backbone  # noqa: F401  (registers ExampleBackbone)

#: name -> kwargs of a tiny instance, cheap on CPU.
TINY = {
    'ExampleBackbone': dict(arch='t'),
    'ResNetACmix': dict(arch=dict(depths=[1, 1, 1, 1], base_channels=16)),
    'SwinACmix': dict(arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                                num_heads=[2, 2, 4, 4]),
                      drop_path_rate=0.),
    'HorNet': dict(arch=dict(base_dim=8, depths=[1, 1, 2, 1],
                             orders=[2, 3, 4, 5])),
    # the same class with global filters (scoped name keeps the key unique)
    'mmhybrid.HorNet': dict(arch=dict(base_dim=8, depths=[1, 1, 2, 1],
                                      orders=[2, 3, 4, 5],
                                      gf_sizes=[None, None, (14, 8), (7, 4)])),
    # the classifier's trunk; its last output is pooled (test_classifiers)
    'HorNetCls': dict(arch=dict(base_dim=8, depths=[1, 1, 2, 1],
                                orders=[2, 3, 4, 5]), out_indices=(0, 1, 2)),
    'ViTLSLA': dict(arch=dict(embed_dims=16, depths=[2, 2, 2, 2],
                              num_heads=[2, 2, 4, 4]),
                    drop_path_rate=0.),
    'HATNet': dict(arch=dict(dims=[8, 16, 32, 48], head_dim=8,
                             depths=[1, 1, 1, 1], expansions=[2, 2, 2, 2])),
    # the paper's H-MHSA (scoped name keeps the key unique)
    'mmhybrid.HATNet': dict(arch=dict(dims=[8, 16, 32, 48], head_dim=8,
                                      depths=[1, 1, 1, 1],
                                      expansions=[2, 2, 2, 2]),
                            attn_mode='paper'),
    'TransCNN': dict(arch=dict(dims=[8, 16, 32, 48], head_dim=8,
                               depths=[1, 1, 1, 1], expansions=[2, 2, 2, 2])),
    'SGFormer': dict(arch=dict(embed_dims=[8, 16, 32, 32],
                               num_heads=[2, 2, 2, 2], depths=[2, 2, 2, 1]),
                     drop_path_rate=0.),
}
#: input sizes: square, non-square, odd, tiny (down to one pixel, smaller
#: than any window or stride), 1xN / Nx1 strips, detection-like (scaled down).
SIZES = [(64, 64), (64, 96), (97, 131), (100, 167), (1, 1), (7, 7), (31, 31),
         (1, 45), (45, 1), (200, 333)]


def registered_backbones():
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, BaseBackbone))


def build(name, **kwargs):
    return MODELS.build(dict(type=name, **{**TINY[name], **kwargs}))


def test_all_covered():
    missing = set(registered_backbones()) - set(TINY)
    assert not missing, f'add a tiny config for {missing} to TINY'


BACKBONES = sorted(TINY)


@pytest.mark.parametrize('name', BACKBONES)
@pytest.mark.parametrize('size', SIZES)
def test_outputs(name, size):
    model = build(name).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == len(model.out_indices) == len(model.out_channels)
    for out, c, s in zip(outs, model.out_channels, model.strides):
        assert out.shape[1] == c
        assert out.shape[2:] == tuple(math.ceil(n / s) for n in size), \
            (out.shape, size, s)
        assert torch.isfinite(out).all()


#: backbones whose last output is pooled by design (classifier trunks,
#: tested in tests/test_classifiers.py)
POOLED_LAST = {'HorNetCls'}


@pytest.mark.parametrize(
    'name', [n for n in registered_backbones() if n not in POOLED_LAST])
def test_default_arch_small_inputs(name):
    """The full-size default arch (not TINY) at sizes below its strides and
    windows, where official code crashes."""
    model = MODELS.build(dict(type=name)).eval()
    with torch.no_grad():
        for size in [(1, 1), (7, 7), (31, 31), (1, 45), (45, 1), (33, 65)]:
            outs = model(torch.rand(1, 3, *size))
            for out, s in zip(outs, model.strides):
                assert out.shape[2:] == tuple(math.ceil(n / s)
                                              for n in size), (size, s)
                assert torch.isfinite(out).all()


@pytest.mark.parametrize('name', BACKBONES)
def test_detection_size(name):
    """A COCO test size (shorter side 800), unpadded."""
    model = build(name).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 800, 1333))
    for out, s in zip(outs, model.strides):
        assert out.shape[2:] == (math.ceil(800 / s), math.ceil(1333 / s))
        assert torch.isfinite(out).all()


@pytest.mark.parametrize('name', BACKBONES)
def test_empty_batch_and_channels_last(name):
    model = build(name).train()
    x = torch.rand(2, 3, 45, 61)
    outs = model(x.to(memory_format=torch.channels_last))
    model.eval()
    with torch.no_grad():
        ref = model(x)
        cl = model(x.to(memory_format=torch.channels_last))
    for u, v in zip(ref, cl):
        torch.testing.assert_close(u, v)
    model.train()
    empty = model(torch.rand(0, 3, 45, 61))
    assert [tuple(o.shape) for o in empty] == [
        (0, c, math.ceil(45 / s), math.ceil(61 / s))
        for c, s in zip(model.out_channels, model.strides)]
    # an empty batch still yields (zero) gradients, so DDP ranks agree
    sum(o.sum() for o in empty).backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, n
    assert all(len(o) == 2 for o in outs)


@pytest.mark.parametrize('name', BACKBONES)
@pytest.mark.parametrize('bad, error, match', [
    (torch.rand(3, 32, 32), ValueError, r'3-D tensor .*x\[None\]'),
    (torch.rand(1, 4, 32, 32), ValueError, 'got 4 channels'),
    (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), TypeError,
     'got dtype torch.uint8'),
    (torch.rand(1, 3, 0, 32), ValueError, r'H, W >= 1, got shape'),
    (torch.rand(1, 3, 32, 32).numpy(), TypeError, 'got ndarray'),
])
def test_bad_inputs_say_what_was_expected(name, bad, error, match):
    model = build(name).eval()
    with pytest.raises(error, match=match) as info:
        model(bad)
    assert 'expects a float tensor of shape (N, 3, H, W)' in str(info.value)


@pytest.mark.parametrize('name', BACKBONES)
def test_in_channels(name):
    """``in_channels`` reaches both the stem and the input check."""
    model = build(name, in_channels=4).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 4, 40, 56))
    assert [o.shape[1] for o in outs] == model.out_channels
    with pytest.raises(ValueError, match='4'):
        model(torch.rand(1, 3, 40, 56))


@pytest.mark.parametrize('name', BACKBONES)
def test_out_indices(name):
    model = build(name, out_indices=(-1, 1)).eval()
    assert model.out_indices == (1, model.num_stages - 1)
    outs = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == model.out_channels
    # stages past the last output never run, so they are frozen for DDP
    model = build(name, out_indices=(1, )).train()
    outs = model(torch.rand(1, 3, 64, 64))
    sum(o.sum() for o in outs).backward()
    for n, p in model.named_parameters():
        assert p.requires_grad == (p.grad is not None), n


@pytest.mark.parametrize('name', BACKBONES)
def test_every_param_gets_grad(name):
    model = build(name).train()
    outs = model(torch.rand(2, 3, 64, 96))
    sum(o.float().mean() for o in outs).backward()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not no_grad, f'parameters without gradient: {no_grad}'


@pytest.mark.parametrize('name', BACKBONES)
def test_frozen_stages(name):
    num_stages = build(name).num_stages
    for frozen in range(-1, num_stages + 1):
        model = build(name, frozen_stages=frozen)
        model.train()  # freezing survives train()
        frozen_mods = model._frozen_modules()
        frozen_params = {id(p) for m in frozen_mods for p in m.parameters()}
        for m in frozen_mods:
            assert not m.training
        if frozen >= 0:
            assert frozen_params
        outs = model(torch.rand(1, 3, 64, 64))
        loss = sum(o.mean() for o in outs)
        if loss.requires_grad:
            loss.backward()
        for n, p in model.named_parameters():
            if id(p) in frozen_params:
                assert not p.requires_grad and p.grad is None, n
            else:
                assert p.requires_grad and p.grad is not None, n
    assert not any(p.requires_grad for p in
                   build(name, frozen_stages=num_stages).parameters())


@pytest.mark.parametrize('name', BACKBONES)
def test_norm_eval(name):
    model = build(name, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert all(not m.training for m in bns)


@pytest.mark.parametrize('name', BACKBONES)
def test_eval_determinism_and_with_cp(name):
    x = torch.rand(1, 3, 64, 64)
    model = build(name).eval()
    with torch.no_grad():
        a, b = model(x), model(x)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=0)
    cp_model = build(name, with_cp=True)
    cp_model.load_state_dict(model.state_dict())
    cp_model.train()
    model.train()
    xg = x.clone().requires_grad_()
    for m in (model, cp_model):
        outs = m(xg)
        sum(o.sum() for o in outs).backward()
    for (n, p), q in zip(model.named_parameters(), cp_model.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5,
                                       msg=n)


@pytest.mark.parametrize('name', BACKBONES)
def test_bf16_autocast(name):
    model = build(name).eval()
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(torch.rand(1, 3, 64, 80))
    assert all(torch.isfinite(o.float()).all() for o in outs)


@pytest.mark.parametrize('name', BACKBONES)
def test_state_dict_round_trip(name, tmp_path):
    src = build(name).eval()
    src.init_weights()
    path = tmp_path / 'det.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in src.state_dict().items()},
                'meta': {}}, path)
    dst = build(name, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    dst.init_weights()
    dst.eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for u, v in zip(src(x), dst(x)):
            torch.testing.assert_close(u, v, rtol=0, atol=0)


@pytest.mark.parametrize('name', BACKBONES)
def test_invalid_arguments(name):
    with pytest.raises(ValueError, match='valid'):
        build(name, arch='no-such-arch')
    with pytest.raises(ValueError, match='valid'):
        build(name, out_indices=(0, 9))
    with pytest.raises(ValueError, match=r'\[-1, '):
        build(name, frozen_stages=9)
    arch = TINY[name].get('arch')
    cls = MODELS.get(name)
    if isinstance(arch, dict) and cls.optional_keys is not None:
        with pytest.raises(ValueError, match='valid keys'):
            build(name, arch=dict(arch, no_such_key=1))


@pytest.mark.parametrize('name', BACKBONES)
def test_layer_depth(name):
    model = build(name)
    for decay_type in ('layer_wise', 'stage_wise'):
        ids = [model.get_layer_depth(n, decay_type)[0]
               for n, _ in model.named_parameters()]
        total = model.get_layer_depth('x', decay_type)[1]
        assert all(0 <= i < total for i in ids)
        assert min(ids) == 0
