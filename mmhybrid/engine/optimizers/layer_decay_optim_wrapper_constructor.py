# Copyright (c) mmhybrid contributors. All rights reserved.
import json
from typing import List

import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor

from mmhybrid.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise / stage-wise learning-rate decay for any mmhybrid backbone.

    mmdet's and mmseg's ``LearningRateDecayOptimizerConstructor`` accept only
    ConvNeXt (they test the class name); this one asks the backbone for
    ``get_layer_depth(name, decay_type, num_layers)``, so it works for every
    mmhybrid backbone inside any detector or segmentor. Parameter ``p`` of
    layer ``i`` gets ``lr = base_lr * decay_rate ** (num_layers + 1 - i)``;
    1-D parameters, biases, ``pos_embed`` and ``cls_token`` get no weight
    decay (as in the official HorNet/ConvNeXt det and seg code). The groups
    it makes are logged.

    ``paramwise_cfg`` keys:

    - **decay_rate** (float): LR ratio between adjacent layers.
    - **decay_type** (str): ``'layer_wise'`` or ``'stage_wise'``.
      Defaults to ``'layer_wise'``.
    - **num_layers** (int): Number of decayed layers. Defaults to 12
      (layer-wise) or 6 (stage-wise).

    Example:
        >>> optim_wrapper = dict(
        >>>     type='OptimWrapper',
        >>>     optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
        >>>     constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
        >>>     paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise',
        >>>                        num_layers=12))
    """

    def add_params(self, params: List[dict], module: nn.Module,
                   **kwargs) -> None:
        if is_model_wrapper(module):
            module = module.module
        backbone = getattr(module, 'backbone', module)
        if not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(
                f'{type(backbone).__name__} has no get_layer_depth(); layer '
                'decay needs an mmhybrid backbone (or one that provides it)')
        prefix = 'backbone.' if backbone is not module else ''
        decay_rate = self.paramwise_cfg.get('decay_rate', 1.0)
        decay_type = self.paramwise_cfg.get('decay_type', 'layer_wise')
        num_layers = self.paramwise_cfg.get(
            'num_layers', 6 if decay_type == 'stage_wise' else 12)

        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim == 1 or name.endswith('.bias') or \
                    name.split('.')[-1] in ('pos_embed', 'cls_token'):
                decay, weight_decay = 'no_decay', 0.
            else:
                decay, weight_decay = 'decay', self.base_wd
            if name.startswith(prefix):
                layer_id, total = backbone.get_layer_depth(
                    name[len(prefix):], decay_type, num_layers)
            else:
                total = num_layers + 2
                layer_id = total - 1
            group_name = f'layer_{layer_id}_{decay}'
            if group_name not in groups:
                scale = decay_rate**(total - layer_id - 1)
                groups[group_name] = dict(
                    params=[], param_names=[], group_name=group_name,
                    weight_decay=weight_decay, lr_scale=scale,
                    lr=scale * self.base_lr)
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(name)

        if get_dist_info()[0] == 0:
            summary = {
                k: dict(lr=g['lr'], lr_scale=g['lr_scale'],
                        weight_decay=g['weight_decay'],
                        num_params=len(g['params']),
                        param_names=g['param_names'])
                for k, g in sorted(groups.items())
            }
            MMLogger.get_current_instance().info(
                f'{type(self).__name__} ({decay_type}, decay_rate='
                f'{decay_rate}, num_layers={num_layers}) param groups = '
                f'{json.dumps(summary, indent=2)}')
        params.extend(groups.values())
