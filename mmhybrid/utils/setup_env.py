"""Helpers the thin ``tools/`` scripts share."""
import ast
import os
import os.path as osp
from argparse import Namespace
from typing import Any

import torch
import torch.distributed as dist
from mmengine.config import Config


def load_config(args: Namespace) -> Config:
    """Read ``args.config`` and apply what train.py and test.py share:
    ``--launcher``, ``--cfg-options``, ``--data-root`` and ``--work-dir``
    (default ``./work_dirs/<config name>``)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    check_data_root(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    add_checkpoint_load_hook(cfg)
    return cfg


def add_checkpoint_load_hook(cfg: Config) -> None:
    """Add :class:`~mmhybrid.engine.CheckpointLoadHook` to the config's
    ``custom_hooks`` unless it has one: whole-model checkpoints in official
    layouts load, the log reports ``loaded N/M tensors`` and the run stops
    when less than ``min_match`` of the model loads."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(str(h.get('type', '')).endswith('CheckpointLoadHook')
               for h in hooks):
        hooks.append(dict(type='mmhybrid.CheckpointLoadHook'))
    cfg.custom_hooks = hooks


def parse_arch_arg(arch: str) -> Any:
    """A command-line ``--arch``: a variant name, or a dict literal such as
    ``"{'base_dim': 32, 'depths': [1, 1, 2, 1], 'orders': [2, 3, 4, 5]}"``."""
    return ast.literal_eval(arch) if arch.lstrip().startswith('{') else arch


def set_data_root(cfg: Config, data_root: str) -> int:
    """Point every path under the config's ``data_root`` at ``data_root``.

    Configs keep the standard roots (``data/coco/``,
    ``data/ade/ADEChallengeData2016/``); the base configs have already joined
    them into dataloader and evaluator paths, so every string that starts with
    the old root is rewritten.

    Returns:
        int: How many strings were rewritten.
    """
    old = cfg.get('data_root')
    if not old:
        raise ValueError('the config defines no `data_root` to replace')
    new = os.path.join(data_root, '') if old.endswith('/') else data_root
    count = 0

    def visit(node: Any) -> Any:
        nonlocal count
        if isinstance(node, str) and node.startswith(old):
            count += 1
            return new + node[len(old):]
        if isinstance(node, dict):
            for k in node:
                node[k] = visit(node[k])
        elif isinstance(node, list):
            node[:] = [visit(v) for v in node]
        elif isinstance(node, tuple):
            return type(node)(visit(v) for v in node)
        return node

    for key in list(cfg.keys()):
        cfg[key] = visit(cfg[key])
    return count


def check_data_root(cfg: Config) -> None:
    """Fail early, and say what to do, when the dataset is not there.

    Without this the run builds the whole model first and then dies deep in
    a dataset's annotation loader.
    """
    root = cfg.get('data_root')
    if root and not osp.isdir(root):
        raise FileNotFoundError(
            f'dataset root {root!r} (the config\'s data_root) does not exist. '
            'Point the config at your copy with --data-root DIR, or make the '
            'toy sets and use one:\n  python tools/misc/make_toy_data.py '
            'data/\n  ... --data-root data/toy_coco  (or data/toy_ade)')


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Make ``--launcher pytorch`` work without GPUs (gloo, CPU DDP).

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``; both fail on CPU. The process
    group is initialised here (the runner then skips its own init) and the
    model is wrapped by :class:`~mmhybrid.engine.CPUDistributedDataParallel`,
    which runs DDP on CPU and reverts SyncBN (GPU-only) to BatchNorm.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not dist.is_initialized():
        timeout = cfg.env_cfg.dist_cfg.get('timeout')
        kwargs = {}
        if timeout is not None:
            from datetime import timedelta
            kwargs['timeout'] = timedelta(seconds=timeout)
        dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', 'MMDistributedDataParallel') in (
            'MMDistributedDataParallel', 'mmengine.MMDistributedDataParallel'):
        wrapper['type'] = 'mmhybrid.CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def teardown_distributed() -> None:
    """Destroy the process group before exit.

    Left alive, gloo's worker threads can abort the interpreter at shutdown
    ("terminate called without an active exception"), failing a run whose
    work is done.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
