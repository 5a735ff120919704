"""A test-only backbone that exercises the contract (not shipped as a model).

Registered by the tests into mmhybrid's MODELS under the name
``ExampleBackbone``: a BN stem and 4 stages of residual conv blocks with a
LayerNorm-like output norm, enough to cover freezing, norm_eval, with_cp and
LR decay.
"""
from typing import Optional, Tuple

import torch.nn as nn
from torch import Tensor

from mmhybrid.models.backbones import BaseBackbone
from mmhybrid.registry import MODELS


class _Block(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.bn = nn.BatchNorm2d(dim)
        self.pw = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.pw(self.bn(self.conv(x)).relu())


@MODELS.register_module(force=True)
class ExampleBackbone(BaseBackbone):
    """Test-only backbone; see the module docstring."""
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], dict(dims=[8, 16, 24, 32],
                                            depths=[1, 1, 2, 1])),
    }
    essential_keys = frozenset({'dims', 'depths'})
    default_init_cfg = dict(type='TruncNormal', layer='Conv2d', std=.02)
    input_divisor = 32  # patchify stem and 2x2 downsamplings floor sizes

    def __init__(self, arch='t', **kwargs) -> None:
        super().__init__(arch, **kwargs)
        dims, depths = self.arch_settings['dims'], self.arch_settings['depths']
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels, dims[0], 4, stride=4),
            nn.BatchNorm2d(dims[0]))
        self.downsample_layers = nn.ModuleList(
            [nn.Identity()] +
            [nn.Conv2d(dims[i - 1], dims[i], 2, stride=2)
             for i in range(1, len(dims))])
        self.stages = nn.ModuleList(
            nn.ModuleList(_Block(d) for _ in range(n))
            for d, n in zip(dims, depths))
        for i in self.out_indices:
            self.add_module(f'norm{i}', nn.GroupNorm(1, dims[i]))
        self.feature_info = [
            dict(num_chs=d, reduction=4 * 2**i, module=f'stages.{i}')
            for i, d in enumerate(dims)]
        self._freeze_stages()

    def stage_modules(self, i: int):
        return [self.downsample_layers[i]] + super().stage_modules(i)

    def forward_stem(self, x: Tensor) -> Tensor:
        return self.stem(x)

    def forward_stage(self, i: int, x: Tensor) -> Tuple[Tensor, Tensor]:
        x = self.downsample_layers[i](x)
        for block in self.stages[i]:
            x = self.run_block(block, x)
        norm = getattr(self, f'norm{i}', None)
        return x, (norm(x) if norm is not None else x)

    @classmethod
    def convert_official(cls, state_dict):
        return {k: v for k, v in state_dict.items()
                if not k.startswith('head.')}

    def param_position(self, name: str) -> Tuple[Optional[int], int]:
        parts = name.split('.')
        if parts[0] == 'stem':
            return 0, -1
        if parts[0] == 'downsample_layers':
            return int(parts[1]), -1
        if parts[0] == 'stages':
            return int(parts[1]), int(parts[2])
        return None, 0
