# Copyright (c) mmhybrid contributors. All rights reserved.
"""Whole-model checkpoints (detectors, segmentors, classifiers) in official
layouts.

The official fine-tuned models are mmdet 2.x / mmseg 0.x files whose
backbone keys have the official names (HorNet: ``backbone.downsample_layers.
0`` for the stem, ...), and the official classifiers are bare state dicts
(``stages.*``, ``norm.*``, ``head.*``). Loaded as they are, most backbone
tensors would stay at random init. Two pieces make them load wherever
mmengine loads a model:

- :func:`convert_under_prefix`, which every mmhybrid backbone runs on the
  keys under its own prefix when a state dict is loaded into it (its
  ``_load_from_state_dict``), so the stock tools, ``load_checkpoint`` and
  ``load_state_dict`` map official backbone keys (and resize tables) too;
- :func:`convert_model_checkpoint`, the whole-model view used by
  :class:`~mmhybrid.engine.CheckpointLoadHook` (``tools/test.py``,
  ``tools/train.py``, ``load_from``, ``--resume``) and by
  ``tools/model_converters/convert_checkpoint.py``: it also places an official
  classifier's backbone under ``backbone.`` and its linear classifier into an
  mmpretrain ``head.fc``, and reports ``loaded N/M tensors`` for the whole
  model.

The heads of the released detectors and segmentors need no renaming: mmdet
3.x and mmseg 1.x kept the 2.x / 0.x module names of RPNHead, ConvFCBBoxHead,
FCNMaskHead, FPN, UPerHead and FCNHead (checked against the 2.x / 0.x
sources; ``tests/test_whole_model.py`` pins the key sets).
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from torch import Tensor

from .checkpoint import (STATE_DICT_KEYS, LoadReport, extract_state_dict,
                         match_state_dict)


def backbones_of(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The outermost submodules that convert official keys (mmhybrid
    backbones), as ``(prefix, module)``; the prefix ends with a dot, or is
    ``''`` when ``model`` is itself one."""
    found: List[Tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if callable(getattr(module, 'convert_official', None)) and not any(
                (name + '.').startswith(p) for p, _ in found):
            found.append((name + '.' if name else '', module))
    return found


def convert_under_prefix(backbone: nn.Module, state_dict: Dict[str, Tensor],
                         prefix: str = '') -> Optional[Dict[str, Tensor]]:
    """Convert the keys of ``state_dict`` under ``prefix`` for ``backbone``.

    The backbone's ``convert_official`` maps official names (and drops
    classifier keys it does not own); tensors whose shape differs from the
    backbone's go through its ``adapt_pretrained`` (resized global filters,
    position tables).

    Returns:
        dict | None: The converted keys under ``prefix`` (with the prefix),
        or None when there are none or they are already in this layout.
    """
    sub = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix) and isinstance(v, Tensor)}
    if not sub:
        return None
    converted = backbone.convert_official(sub)
    own = backbone.state_dict()
    adapt = getattr(backbone, 'adapt_pretrained', None)
    for key, value in converted.items():
        if key in own and value.shape != own[key].shape and adapt:
            resized = adapt(key, value, own[key])
            if resized is not None and resized.shape == own[key].shape:
                converted[key] = resized
    if converted.keys() == sub.keys() and all(
            converted[k] is sub[k] for k in sub):
        return None
    return {prefix + k: v for k, v in converted.items()}


def replace_under_prefix(state_dict: Dict[str, Tensor], prefix: str,
                         converted: Dict[str, Tensor]) -> None:
    """Swap the keys under ``prefix`` of ``state_dict`` for ``converted``
    (in place: what ``_load_from_state_dict`` hooks must do)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]
    state_dict.update(converted)


def _from_official_classifier(model: nn.Module, prefix: str,
                              backbone: nn.Module,
                              state_dict: Dict[str, Tensor]
                              ) -> Dict[str, Tensor]:
    """Place an official classifier's keys into ``model``: the backbone's
    under ``prefix``, its linear classifier (the backbone's
    ``official_head`` prefix, e.g. ``head.`` / ``fc.`` / ``classifier.1.``)
    into an mmpretrain ``head.fc`` when the model has one. Keys that already
    name a child of ``model`` keep their names."""
    own = model.state_dict()
    head = getattr(backbone, 'official_head', 'head.')
    children = {name for name, _ in model.named_children()}
    out = {}
    for key, value in state_dict.items():
        if key.startswith(head):
            target = 'head.fc.' + key[len(head):]
            out[target if target in own else key] = value
        elif key.split('.')[0] in children:
            out[key] = value
        else:
            out[prefix + key] = value
    return out


def convert_model_state_dict(model: nn.Module, state_dict: Dict[str, Tensor]
                             ) -> Dict[str, Tensor]:
    """Map a whole-model state dict in an official layout to ``model``'s.

    Handles mmdet 2.x / mmseg 0.x files of the official fine-tuned models
    (backbone keys under ``backbone.`` with official names), mmpretrain /
    mmhybrid files (passed through), and official classifiers, whose keys
    have no ``backbone.`` prefix: these go under the backbone, with the
    classifier into ``head.fc`` (see :func:`_from_official_classifier`).
    Pure: ``state_dict`` is not modified.
    """
    out = dict(state_dict)
    backbones = backbones_of(model)
    if len(backbones) == 1 and backbones[0][0] and not any(
            k.startswith(backbones[0][0]) for k in out):
        prefix, backbone = backbones[0]
        out = _from_official_classifier(model, prefix, backbone, out)
    for prefix, backbone in backbones:
        converted = convert_under_prefix(backbone, out, prefix)
        if converted is not None:
            replace_under_prefix(out, prefix, converted)
    return out


def model_weights(model: nn.Module, checkpoint: Dict) -> Dict[str, Tensor]:
    """The weights of a checkpoint, where ``model``'s backbone prefers them
    (e.g. SG-Former's EMA weights first), ``module.`` prefixes stripped."""
    backbones = backbones_of(model)
    keys = getattr(backbones[0][1], 'state_dict_keys', STATE_DICT_KEYS) \
        if len(backbones) == 1 else STATE_DICT_KEYS
    return extract_state_dict(checkpoint, prefix='', keys=keys)


def summarize_missing(report: LoadReport, depth: int = 2) -> str:
    """``'backbone.stages (300/300 missing), ...'``: what did not load,
    grouped by module path (the first ``depth`` components)."""
    groups: Dict[str, List[int]] = OrderedDict()
    for key in report.missing + [k for k in report.loaded]:
        group = '.'.join(key.split('.')[:depth])
        groups.setdefault(group, [0, 0])[1] += 1
    for key in report.missing:
        groups['.'.join(key.split('.')[:depth])][0] += 1
    return ', '.join(f'{g} ({m}/{n} missing)'
                     for g, (m, n) in groups.items() if m)


def convert_model_checkpoint(model: nn.Module, checkpoint: Dict
                             ) -> LoadReport:
    """Convert ``checkpoint`` for ``model`` in place and report on it.

    ``checkpoint['state_dict']`` becomes the weights in ``model``'s layout
    (see :func:`convert_model_state_dict`), which is what mmengine's runner
    loads next; everything else in the checkpoint (optimizer, meta, message
    hub) is left alone.

    Returns:
        LoadReport: What will load into ``model``: loaded / missing /
        unexpected / shape-mismatched keys of the whole model.
    """
    weights = model_weights(model, checkpoint)
    converted = convert_model_state_dict(model, weights)
    original = checkpoint.get('state_dict')
    state_dict = OrderedDict(converted)
    metadata = getattr(original, '_metadata', None)
    if metadata is not None:
        state_dict._metadata = metadata
    checkpoint['state_dict'] = state_dict
    _, report = match_state_dict(model.state_dict(), converted)
    return report


def check_report(report: LoadReport, min_match: float, what: str) -> None:
    """Log ``report`` and raise when less than ``min_match`` loads."""
    print_log(f'{what}: {report}', logger='current')
    if report.ratio < min_match:
        raise RuntimeError(
            f'Only {len(report.loaded)}/{report.total} tensors of {what} '
            f'match the checkpoint (min_match={min_match}); evaluating or '
            'fine-tuning a partly random model is refused. Not loaded: '
            f'{summarize_missing(report)}. Is it a checkpoint of this '
            'config? ImageNet weights belong in model.backbone.init_cfg '
            "(type='Pretrained'), not in load_from.\n" + str(report))
