"""What ``tools/analysis_tools`` analyse: the module built from a target,
and the step run on it.

``target`` is either a config file (the whole detector / segmentor, run in
tensor mode on a dummy batch) or a backbone type of any scope (``HorNet``,
``mmhybrid.HorNet``, ``mmdet.ResNet``, ``mmpretrain.ConvNeXt``), built with
``arch`` and extra keyword arguments, optionally with a classification head
(global average pool + Linear), which is how the papers count parameters
and FLOPs at 224.

The step (:func:`make_step`) is one forward, or one forward+backward of a
scalar that depends on every output. Counting is in
:mod:`mmhybrid.utils.flops`, timing in :mod:`mmhybrid.utils.timing`, peak
memory in :mod:`mmhybrid.utils.memory`.
"""
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .flops import count_macs  # noqa: F401  (imported from here by tests)
from .setup_env import parse_arch_arg


def _last_feature(out) -> Tensor:
    """The last feature map of a backbone's output (tensor, tuple or list)."""
    while isinstance(out, (list, tuple)):
        out = out[-1]
    return out


def _pool(feat: Tensor) -> Tensor:
    """(N, C, ...) -> (N, C): mean over the spatial dims, if any."""
    return feat.flatten(2).mean(2) if feat.dim() > 2 else feat


def last_stage_channels(backbone: nn.Module, size: int = 64) -> int:
    """Channels of the backbone's last output.

    The declared ``out_channels`` (mmhybrid) when there is one; otherwise
    (mmdet's ResNet and SwinTransformer, mmpretrain's ConvNeXt, ...) a dry
    run on a ``size x size`` image (224 if that fails, e.g. a model with a
    minimum input size).
    """
    declared = getattr(backbone, 'out_channels', None)
    if isinstance(declared, (list, tuple)) and declared and \
            all(isinstance(c, int) for c in declared):
        return declared[-1]
    if isinstance(declared, int):
        return declared
    was_training = backbone.training
    backbone.eval()
    try:
        for s in (size, 224):
            try:
                with torch.no_grad():
                    feat = _last_feature(backbone(torch.zeros(1, 3, s, s)))
                return int(feat.shape[1])
            except Exception:
                if s == 224:
                    raise
    finally:
        backbone.train(was_training)


class ClsHead(nn.Module):
    """Backbone + global average pooling + Linear, as classifiers count.

    Works with any backbone that returns NCHW maps (or pooled (N, C)
    features, as mmpretrain's with ``gap_before_final_norm``); the input
    width of the Linear comes from :func:`last_stage_channels`.
    """

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(last_stage_channels(backbone), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(_pool(_last_feature(self.backbone(x))))


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
        module = ClsHead(module, num_classes)
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


def make_step(model: nn.Module, x: Tensor, mode: str = 'fwd-bwd',
              amp: bool = False) -> Callable[[], None]:
    """One forward (``'fwd'``: eval mode, no grad) or forward+backward
    (``'fwd-bwd'``: train mode; gradients freed afterwards) of ``model``."""
    if mode not in ('fwd', 'fwd-bwd'):
        raise ValueError(f"mode must be 'fwd' or 'fwd-bwd', got {mode!r}")
    device = x.device.type
    amp_dtype = torch.float16 if device == 'cuda' else torch.bfloat16

    def step() -> None:
        model.train(mode == 'fwd-bwd')
        with torch.autocast(device, dtype=amp_dtype, enabled=amp):
            if mode == 'fwd':
                with torch.no_grad():
                    model(x)
            else:
                sum_outputs(model(x)).backward()
        model.zero_grad(set_to_none=True)

    return step
