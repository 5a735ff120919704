"""What ``tools/analysis_tools`` build and how they measure it.

Building: ``target`` is either a config file (the whole detector /
segmentor, run in tensor mode on a dummy batch) or a backbone type of any
scope (``HorNet``, ``mmhybrid.HorNet``, ``mmdet.ResNet``,
``mmpretrain.ConvNeXt``), built with ``arch`` and extra keyword arguments,
optionally with a classification head (global average pool + Linear), which
is how the papers count parameters and FLOPs at 224.

Units: mmengine's (fvcore's) counter counts one multiply-accumulate (MAC)
as one "flop"; that is the number the papers call FLOPs. A matmul peak
measured as ``2 n^3 / t`` is in real FLOPs (a MAC is two), so achieved
throughput is compared with it as ``2 * MACs / t`` (:func:`macs_to_flops`).

Measuring: :func:`make_step` (one forward, or forward+backward),
:func:`time_step`, :func:`peak_memory` (CUDA's ``max_memory_allocated``; on
CPU the rise of the resident set's high-water mark, reset right before the
step) and :func:`matmul_peak_flops`.
"""
import ctypes
import gc
import time
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

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


class _ClsHead(nn.Module):
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


# ----------------------------------------------------------- measuring ----
def add_device_arguments(parser) -> None:
    """``--device`` (cuda when available) and ``--threads`` of the tools."""
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: torch default)')


#: Forward+backward costs about three forwards (two matmuls per forward
#: matmul in backward); the convention of the scaling-law literature.
FWD_BWD_FACTOR = 3


def macs_to_flops(macs: float) -> float:
    """Real floating-point operations of ``macs`` multiply-accumulates."""
    return 2 * macs


def count_macs(model: nn.Module, x: Tensor,
               elementwise: bool = False) -> Tuple[int, Dict[str, int]]:
    """MACs (the papers' "FLOPs") of ``model(x)`` in eval mode, and the ops
    the counter skipped, from :func:`mmhybrid.utils.flops.flop_analyzer`
    (``elementwise``: count element-wise ops too)."""
    from .flops import flop_analyzer
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = flop_analyzer(model, (x, ), elementwise=elementwise)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return analyzer.total(), dict(analyzer.unsupported_ops())
    finally:
        model.train(was_training)


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


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_step(step: Callable[[], None], device: str = 'cpu') -> float:
    """Wall time of one call of ``step``, in seconds."""
    _sync(device)
    t0 = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - t0


def vm_kib(field: str) -> int:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in KiB, 0 if
    unavailable."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's
    ``malloc_trim``), so that the resident set reflects live memory."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0,
    ``/proc/self/clear_refs``); False where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_memory(step: Callable[[], None], device: str = 'cpu') -> int:
    """Peak memory of one call of ``step`` above what was held before it,
    in bytes (activations, gradients, workspaces; not the weights or the
    input).

    CUDA: ``max_memory_allocated`` minus ``memory_allocated`` before. CPU:
    freed heap pages are returned to the OS and the RSS high-water mark is
    reset first, then the rise of ``VmHWM`` over ``VmRSS`` before the step;
    this includes allocator slack, like what ``top`` shows. Without
    ``clear_refs`` the high-water mark cannot be reset, and the result is
    only meaningful in a fresh process whose earlier peak was lower.
    """
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    release_memory()
    reset_peak_rss()
    base = vm_kib('VmRSS')
    step()
    return max(vm_kib('VmHWM') - base, 0) * 1024


def matmul_peak_flops(device: str = 'cpu', n: int = 2048,
                      reps: int = 5) -> float:
    """Measured fp32 matmul throughput of this device in FLOP/s (an
    ``n x n`` matmul is ``2 n^3`` FLOPs: ``n^3`` multiply-accumulates)."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    times = [time_step(lambda: a @ b, device) for _ in range(reps + 1)]
    return macs_to_flops(n**3) / min(times[1:])


def memory_child(conn, target: str, kwargs: Dict, shape: Tuple[int, ...],
                 threads: int) -> None:
    """Run in a fresh child process: build backbone ``target`` with
    ``kwargs``, measure :func:`peak_memory` of one forward+backward of a
    random ``shape`` batch on CPU and send ``('ok', bytes, seconds)`` (or
    ``('error', message, 0.)``) through ``conn``."""
    try:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model, _ = build_target(target, None, 0, kwargs)
        step = make_step(model, torch.rand(*shape), 'fwd-bwd')
        t0 = time.perf_counter()
        peak = peak_memory(step, 'cpu')
        conn.send(('ok', peak, time.perf_counter() - t0))
    except BaseException as e:  # report, never leave the parent waiting
        conn.send(('error', f'{type(e).__name__}: {e}'.splitlines()[0][:200],
                   0.))
    finally:
        conn.close()
