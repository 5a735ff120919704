"""mmhybrid's initializers, reached by their scoped names from any scope."""
import math

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule

import mmhybrid  # noqa: F401


class Net(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(64, 128, 3)
        self.dw = nn.Conv2d(128, 128, 5, groups=128)
        self.fc = nn.Linear(8, 8)


@pytest.mark.parametrize('per_group', [False, True])
def test_fan_out_normal(per_group):
    torch.manual_seed(0)
    net = Net(dict(type='mmhybrid.FanOutNormal', layer='Conv2d',
                   per_group=per_group, bias=None))
    bias = net.conv.bias.clone()
    fc = net.fc.weight.clone()
    net.init_weights()
    assert torch.equal(net.conv.bias, bias)  # bias=None keeps it
    assert torch.equal(net.fc.weight, fc)  # other layers untouched
    std = net.conv.weight.std().item()
    assert abs(std / math.sqrt(2 / (128 * 9)) - 1) < 0.05
    # depthwise: one group's fan-out is 1 x 5 x 5 with per_group
    fan = 25 if per_group else 128 * 25
    assert abs(net.dw.weight.std().item() / math.sqrt(2 / fan) - 1) < 0.1


def test_fan_out_normal_zero_bias_and_scope():
    from mmengine.registry import DefaultScope
    DefaultScope.get_instance('t', scope_name='mmdet')
    net = Net(dict(type='mmhybrid.FanOutNormal', layer='Conv2d', bias=0.))
    net.init_weights()
    assert not net.conv.bias.any() and not net.dw.bias.any()
