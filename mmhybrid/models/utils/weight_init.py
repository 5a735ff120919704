# Copyright (c) mmhybrid contributors. All rights reserved.
"""Initializers for official init rules that mmengine's do not express."""
import math
from typing import Optional

import torch.nn as nn
from mmengine.model.weight_init import BaseInit, _get_bases_name

from mmhybrid.registry import WEIGHT_INITIALIZERS


@WEIGHT_INITIALIZERS.register_module(name='FanOutNormal')
class FanOutNormalInit(BaseInit):
    """He-normal init over the fan-out: ``N(0, sqrt(2 / fan_out))``.

    ``fan_out = out_channels * kernel area`` (torch's ``kaiming_normal_``
    with ``mode='fan_out'``), divided by ``groups`` with ``per_group`` (the
    rule of the PVT/SG-Former ``_init_weights``, under which a depthwise conv
    gets ``sqrt(2 / k^2)``).

    Args:
        per_group (bool): Count the fan-out of one group. Defaults to False.
        bias (float, optional): Value of the biases; None leaves them as the
            layer built them (the official ResNet loop). Defaults to 0.
        layer (str | list[str], optional): Layer types to initialise.
            Defaults to None (the whole module).
    """

    def __init__(self, per_group: bool = False, bias: Optional[float] = 0,
                 **kwargs) -> None:
        super().__init__(bias=0 if bias is None else bias, **kwargs)
        self.bias = bias
        self.per_group = per_group

    def _init(self, m: nn.Module) -> None:
        w = m.weight
        fan_out = w.shape[0] * w[0, 0].numel()
        if self.per_group:
            fan_out //= getattr(m, 'groups', 1)
        nn.init.normal_(w, 0, math.sqrt(2. / fan_out))
        if self.bias is not None and getattr(m, 'bias', None) is not None:
            nn.init.constant_(m.bias, self.bias)

    def __call__(self, module: nn.Module) -> None:
        for m in module.modules():
            names = {type(m).__name__, *_get_bases_name(m)}
            if getattr(m, 'weight', None) is not None and (
                    self.wholemodule or names & set(self.layer)):
                self._init(m)

    def _get_init_info(self) -> str:
        return (f'{type(self).__name__}: per_group={self.per_group}, '
                f'bias={self.bias}')
