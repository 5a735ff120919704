"""Build what ``tools/analysis_tools`` measure: a backbone or a full model.

``target`` is either a config file (the whole detector / segmentor, run in
tensor mode on a dummy batch) or a backbone type (``HorNet`` or
``mmhybrid.HorNet``, built with ``arch`` and extra keyword arguments),
optionally with a classification head (global average pool + Linear), which
is how the papers count parameters and FLOPs at 224.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .setup_env import parse_arch_arg


class _ClsHead(nn.Module):
    """Backbone + global average pooling + Linear, as classifiers count."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.out_channels[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


class _TensorMode(nn.Module):
    """Run a detector / segmentor's ``_forward`` on a dummy batch."""

    def __init__(self, model: nn.Module, scope: str) -> None:
        super().__init__()
        self.model = model
        self.scope = scope

    def forward(self, x: Tensor):
        h, w = x.shape[-2:]
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    batch_input_shape=(h, w), scale_factor=(1., 1.))
        if self.scope == 'mmdet':
            from mmdet.structures import DetDataSample
            samples = [DetDataSample(metainfo=meta) for _ in range(len(x))]
        else:
            from mmseg.structures import SegDataSample
            samples = [SegDataSample(metainfo=meta) for _ in range(len(x))]
        return self.model._forward(x, samples)


def build_target(target: str,
                 arch: Optional[str] = None,
                 num_classes: int = 0,
                 backbone_kwargs: Optional[Dict] = None,
                 cfg_options: Optional[Dict] = None) -> Tuple[nn.Module, str]:
    """Build the module to analyse.

    Args:
        target (str): A config file (``*.py``) or a backbone type.
        arch (str, optional): ``arch`` of the backbone: a variant name or a
            dict literal (``"{'base_dim': 32, ...}"``). Defaults to None.
        num_classes (int): Add a classification head with this many classes
            to a backbone (0: none). Defaults to 0.
        backbone_kwargs (dict, optional): More backbone arguments.
        cfg_options (dict, optional): Overrides merged into a config.

    Returns:
        tuple: The module (taking an image batch) and a description.
    """
    import mmhybrid  # noqa: F401  (registers the backbones)
    if target.endswith('.py'):
        from mmengine.config import Config
        from mmengine.registry import MODELS, init_default_scope
        cfg = Config.fromfile(target)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        scope = cfg.get('default_scope', 'mmdet')
        init_default_scope(scope)
        model = MODELS.build(cfg.model)
        return _TensorMode(model, scope), f'{target} (whole model)'
    from mmhybrid.registry import MODELS
    kwargs = dict(backbone_kwargs or {})
    if arch is not None:
        kwargs['arch'] = parse_arch_arg(arch)
    # 'HorNet' is looked up in mmhybrid; 'mmdet.ResNet' in mmdet's registry
    module = MODELS.build(dict(type=target, **kwargs))
    desc = f'{target}({kwargs})'
    if num_classes:
        module = _ClsHead(module, num_classes)
        desc += f' + {num_classes}-class head'
    return module, desc


def sum_outputs(out) -> Tensor:
    """A scalar that depends on every tensor in ``out`` (for backward)."""
    if isinstance(out, Tensor):
        return out.float().mean() if out.is_floating_point() else \
            out.new_zeros((), dtype=torch.float)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return sum((sum_outputs(o) for o in out), torch.zeros(()))
    return torch.zeros(())
