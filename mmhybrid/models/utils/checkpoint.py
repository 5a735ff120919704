# Copyright (c) mmhybrid contributors. All rights reserved.
"""Loading checkpoints as the official repos release them, with a report.

mmengine's ``Pretrained`` init only unwraps ``state_dict`` and loads with
``strict=False`` behind a warning, so an official ``{'model': ...}``
checkpoint silently leaves a backbone at random init. Here every checkpoint
goes through one path: read (URL or file) -> unwrap (``state_dict`` /
``model`` / ``state_dict_ema`` / ``model_ema``) -> strip ``module.`` and
``backbone.`` prefixes -> the backbone's official-key converter -> shape
resizers -> load, then log ``loaded N/M tensors`` with what was missing,
unexpected or skipped, and raise when too little matched.

Reading never executes code from the file unless the user asks for it: files
are unpickled with ``weights_only=True``, with the few harmless types official
releases pickle beside their weights allow-listed
(:data:`SAFE_CHECKPOINT_GLOBALS`); anything else is refused with an error
that says how to opt in (``weights_only=False``).
"""
import argparse
import hashlib
import os
import os.path as osp
import pickle
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlparse

import torch
import torch.nn as nn
from mmengine.logging import MMLogger, print_log
from torch import Tensor

#: Where official repos keep the weights, in the order they are preferred.
STATE_DICT_KEYS = ('state_dict', 'model', 'state_dict_ema', 'model_ema')

#: Non-tensor types that official releases pickle next to their weights and
#: that are safe to rebuild (plain attribute containers, no code runs):
#:
#: - ``argparse.Namespace``: the training ``args`` saved by the ConvNeXt-style
#:   ``main.py`` of HorNet (raoyongming/HorNet ``utils.save_model``), by timm's
#:   ``CheckpointSaver`` of SG-Former (OliverRensu/SG-Former) and by the
#:   DeiT-style ``main.py`` of TransCNN / HAT-Net (yun-liu/TransCNN).
SAFE_CHECKPOINT_GLOBALS = [argparse.Namespace]


class CheckpointDownloadError(RuntimeError):
    """A checkpoint URL could not be fetched."""


def _download(url: str, local: str) -> None:
    try:
        torch.hub.download_url_to_file(url, local)
    except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts
        raise CheckpointDownloadError(
            f'could not download the checkpoint {url}\n  ({type(e).__name__}'
            f': {e}).\nDownload it elsewhere and pass the local file, e.g.\n'
            '  --cfg-options model.backbone.init_cfg.checkpoint=PATH\n'
            f'(or copy it to {local}, where it is looked for first), or train '
            'from scratch with\n  --cfg-options model.backbone.init_cfg=None'
        ) from e


def read_checkpoint(filename: str, map_location: str = 'cpu',
                    weights_only: bool = True) -> Dict:
    """Read a checkpoint from a local path or an http(s) URL.

    Args:
        filename (str): Local path, http(s) URL (cached under torch hub's
            ``checkpoints/``) or an mmengine scheme (``open-mmlab://``...).
        map_location (str): Where to put the tensors. Defaults to 'cpu'.
        weights_only (bool): Unpickle only tensors, containers and
            :data:`SAFE_CHECKPOINT_GLOBALS`, so a malicious file cannot run
            code. ``False`` unpickles anything: only for files you trust.
            Defaults to True.

    Returns:
        dict: The checkpoint.
    """
    if filename.startswith(('http://', 'https://')):
        hub_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
        # share links like https://cloud.tsinghua.edu.cn/f/<id>/?dl=1 end in
        # '/': name the file after the last path component, or a URL hash
        name = osp.basename(urlparse(filename).path.rstrip('/')) or \
            hashlib.sha256(filename.encode()).hexdigest()[:16]
        local = osp.join(hub_dir, name if name.endswith(
            ('.pth', '.pt', '.bin', '.tar')) else name + '.pth')
        if not osp.exists(local):
            os.makedirs(hub_dir, exist_ok=True)
            _download(filename, local)
        filename = local
    elif '://' in filename:  # open-mmlab://, torchvision://, s3://, ...
        from mmengine.runner import CheckpointLoader
        return CheckpointLoader.load_checkpoint(filename, map_location)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename!r} does not exist')
    if not weights_only:
        print_log(
            f'unpickling {filename} with weights_only=False: code in the file '
            'runs', logger='current', level=30)
        return torch.load(filename, map_location=map_location,
                          weights_only=False)
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0]
        raise pickle.UnpicklingError(
            f'{filename} pickles objects other than tensors and the types '
            'mmhybrid allows (mmhybrid.models.utils.SAFE_CHECKPOINT_GLOBALS'
            f'): {first_line}\nUnpickling it could run code from the file, '
            'so it was refused. If you trust the file, opt in with '
            "init_cfg=dict(type='Pretrained', checkpoint=..., weights_only="
            'False) or `convert_checkpoint.py ... --no-weights-only` (which '
            'writes a tensors-only copy that loads safely).') from e


def extract_state_dict(checkpoint: Dict,
                       state_dict_key: Optional[str] = None,
                       prefix: Optional[str] = None,
                       keys: Sequence[str] = STATE_DICT_KEYS
                       ) -> Dict[str, Tensor]:
    """Unwrap a checkpoint into a flat state dict of tensors.

    Args:
        checkpoint (dict): What :func:`read_checkpoint` returned.
        state_dict_key (str, optional): Key holding the weights. Defaults to
            the first of ``keys`` present, else the dict itself.
        prefix (str, optional): Keep only keys under this prefix and strip
            it (e.g. ``'backbone.'``). Defaults to None: a ``backbone.``
            prefix is stripped when the checkpoint has one (a det/seg model).
        keys (Sequence[str]): Where to look for the weights, in order of
            preference (a backbone's ``state_dict_keys``, e.g. EMA first).
            Defaults to :data:`STATE_DICT_KEYS`.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    if state_dict_key is not None:
        if state_dict_key not in checkpoint:
            raise KeyError(f'checkpoint has no {state_dict_key!r}; its keys: '
                           f'{sorted(checkpoint)[:10]}')
        state_dict = checkpoint[state_dict_key]
    else:
        state_dict = next((checkpoint[k] for k in keys
                           if isinstance(checkpoint.get(k), dict)),
                          checkpoint)
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items() if isinstance(v, Tensor)}
    if prefix is None and any(k.startswith('backbone.') for k in state_dict):
        prefix = 'backbone.'
    if prefix:
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items()
                      if k.startswith(prefix)}
    return state_dict


@dataclass
class LoadReport:
    """What :func:`load_pretrained` loaded into a model."""
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    resized: List[str] = field(default_factory=list)
    mismatched: List[str] = field(default_factory=list)
    total: int = 0

    @property
    def ratio(self) -> float:
        return len(self.loaded) / max(self.total, 1)

    def __str__(self) -> str:
        lines = [f'loaded {len(self.loaded)}/{self.total} tensors']

        def add(title: str, keys: List[str]) -> None:
            if keys:
                shown = ', '.join(keys[:20])
                more = f' ... (+{len(keys) - 20})' if len(keys) > 20 else ''
                lines.append(f'{title} ({len(keys)}): {shown}{more}')

        add('resized', self.resized)
        add('missing (left at init)', self.missing)
        add('unexpected (ignored)', self.unexpected)
        add('shape mismatch (skipped)', self.mismatched)
        return '\n'.join(lines)


def convert_state_dict(model: nn.Module,
                       state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Apply ``model.convert_official`` (official -> mmhybrid keys), if any."""
    convert = getattr(model, 'convert_official', None)
    return convert(state_dict) if convert is not None else state_dict


def match_state_dict(own: Dict[str, Tensor], state_dict: Dict[str, Tensor],
                     adapt: Optional[Callable] = None
                     ) -> Tuple[Dict[str, Tensor], LoadReport]:
    """Match ``state_dict`` against a model's own state dict ``own``.

    Tensors whose shape differs go through ``adapt(key, value, target)``
    (e.g. a backbone's ``adapt_pretrained``) and are skipped when it returns
    None or no ``adapt`` is given.

    Returns:
        tuple: The tensors that would load (resized where needed) and the
        report of what would be loaded, resized, missing, unexpected and
        skipped.
    """
    report = LoadReport(total=len(own))
    to_load = {}
    for key, value in state_dict.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        if value.shape != own[key].shape:
            value = adapt(key, value, own[key]) if adapt else None
            if value is None or value.shape != own[key].shape:
                report.mismatched.append(
                    f'{key} {tuple(state_dict[key].shape)} vs '
                    f'{tuple(own[key].shape)}')
                continue
            report.resized.append(key)
        to_load[key] = value
    report.loaded = sorted(to_load)
    report.missing = sorted(set(own) - set(to_load))
    return to_load, report


def load_state_dict_report(model: nn.Module,
                           state_dict: Dict[str, Tensor]) -> LoadReport:
    """Load ``state_dict`` into ``model`` non-strictly and report on it.

    Tensors whose shape differs go through ``model.adapt_pretrained`` (if the
    model has one) and are skipped when it returns None.
    """
    to_load, report = match_state_dict(
        model.state_dict(), state_dict,
        getattr(model, 'adapt_pretrained', None))
    model.load_state_dict(to_load, strict=False)
    return report


def load_pretrained(model: nn.Module,
                    checkpoint: str,
                    prefix: Optional[str] = None,
                    state_dict_key: Optional[str] = None,
                    min_match: float = 0.9,
                    map_location: str = 'cpu',
                    weights_only: bool = True) -> LoadReport:
    """Load an official or mmhybrid checkpoint into ``model`` with a report.

    Usable from configs as ``init_cfg=dict(type='Pretrained',
    checkpoint=..., prefix=None, min_match=0.9)`` on any mmhybrid backbone.

    Args:
        model (nn.Module): The backbone to load into.
        checkpoint (str): Local path or http(s) URL.
        prefix (str, optional): See :func:`extract_state_dict`.
            Defaults to None.
        state_dict_key (str, optional): See :func:`extract_state_dict`.
            Defaults to None.
        min_match (float): Raise if fewer than this fraction of the model's
            tensors are loaded. Defaults to 0.9.
        map_location (str): Device to read tensors to. Defaults to 'cpu'.
        weights_only (bool): See :func:`read_checkpoint`; ``False`` (opt-in)
            unpickles arbitrary objects, running any code in the file.
            Defaults to True.

    Returns:
        LoadReport: What was loaded, missing, unexpected, resized, skipped.
    """
    name = type(model).__name__
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        hint = getattr(model, 'weights_hint', None)
        raise FileNotFoundError(
            f'{name}: checkpoint {checkpoint!r} does not exist. '
            + (f'{hint} ' if hint else '') +
            'Pass a local file with --cfg-options model.backbone.init_cfg.'
            'checkpoint=PATH, or train from scratch with --cfg-options '
            'model.backbone.init_cfg=None')
    ckpt = read_checkpoint(checkpoint, map_location, weights_only)
    state_dict = extract_state_dict(
        ckpt, state_dict_key, prefix,
        getattr(model, 'state_dict_keys', STATE_DICT_KEYS))
    report = load_state_dict_report(model,
                                    convert_state_dict(model, state_dict))
    MMLogger.get_current_instance().info(
        f'{name} <- {checkpoint}: {report}')
    if report.ratio < min_match:
        raise RuntimeError(
            f'Only {len(report.loaded)}/{report.total} tensors of {name} '
            f'matched {checkpoint!r} (min_match={min_match}); is it a '
            f'checkpoint of this arch? {report}')
    return report
