"""The layer-wise / stage-wise LR-decay optimizer-wrapper constructor."""
import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from tests.example_backbone import ExampleBackbone


class Detector(nn.Module):

    def __init__(self, **kwargs):
        super().__init__()
        self.backbone = ExampleBackbone(**kwargs)
        self.neck = nn.Conv2d(32, 8, 1)


def build(model, **paramwise):
    cfg = dict(
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=paramwise)
    return build_optim_wrapper(model, cfg).optimizer


def lr_of(optimizer, model):
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: (g['lr'], g['weight_decay'])
            for g in optimizer.param_groups for p in g['params']}


def test_layer_wise():
    model = Detector()
    lrs = lr_of(build(model, decay_rate=0.5, num_layers=6), model)
    assert len(lrs) == sum(1 for _ in model.parameters())
    # stem: layer 0 of 8 ids -> 0.5 ** 7; neck: last id -> full LR
    assert lrs['backbone.stem.0.weight'] == (1e-3 * 0.5**7, 0.05)
    assert lrs['neck.weight'] == (1e-3, 0.05)
    assert lrs['neck.bias'] == (1e-3, 0.)  # biases are not decayed
    assert lrs['backbone.stages.0.0.conv.weight'][0] == 1e-3 * 0.5**6
    assert lrs['backbone.stages.3.0.pw.weight'][0] == 1e-3 * 0.5**1
    assert lrs['backbone.norm3.weight'] == (1e-3, 0.)


def test_stage_wise():
    model = Detector()
    lrs = lr_of(build(model, decay_rate=0.5, decay_type='stage_wise',
                      num_layers=4), model)
    assert lrs['backbone.downsample_layers.2.weight'][0] == 1e-3 * 0.5**5
    assert lrs['backbone.stages.2.0.pw.weight'][0] == 1e-3 * 0.5**2


def test_frozen_params_are_skipped():
    model = Detector(frozen_stages=1)
    lrs = lr_of(build(model, decay_rate=0.5), model)
    assert not any(k.startswith(('backbone.stem', 'backbone.stages.0'))
                   for k in lrs)


def test_requires_layer_depth():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(TypeError, match='get_layer_depth'):
        build(model, decay_rate=0.5)
