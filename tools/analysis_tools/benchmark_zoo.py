"""Model zoo at a glance: every mmhybrid backbone and three baselines, side
by side, in one run on one machine.

    # everything (docs/zoo.md, zoo.csv, zoo.json and the two plots):
    python tools/analysis_tools/benchmark_zoo.py
    # a minute-long subset somewhere else:
    python tools/analysis_tools/benchmark_zoo.py --quick --out-dir /tmp/zoo
    # what would run, without running it:
    python tools/analysis_tools/benchmark_zoo.py --list
    # some models, some sizes:
    python tools/analysis_tools/benchmark_zoo.py --models 'HorNet*' ResNet-50 \
        --sizes 512 800x1216

Models: every backbone registered in ``mmhybrid.registry.MODELS`` (a
:class:`BaseBackbone` subclass), at its T/S-scale variants, plus mmdet's
ResNet-50 and Swin-T and mmpretrain's ConvNeXt-T. A backbone names its zoo
variants with a class attribute ``zoo_archs = ('t', 't-gf', ...)``; without
it the tool takes the ``arch_zoo`` keys ``t``/``tiny``/``s``/``small`` (and
their ``-suffix`` forms such as HorNet's ``t-gf``), one key per distinct
setting, or else the default ``arch``. A new backbone thus appears without
editing this file.

Measurements, per model:

- params and MACs (the papers' "FLOPs") at 1x3x224x224 with a 1000-class
  head (global pool + Linear), as the papers count;
- forward (eval, no grad) and forward+backward time of 4x3x224x224;
- forward+backward time and peak memory at 1x3x512x512, 1x3x800x1216 and
  1x3x1024x1024 (``--sizes``).

Times are medians over ``--repeats`` passes (3); every pass visits all
models and tasks in a fresh random order, so that machine noise hits all
models alike; the first, cold pass (one-off allocations and kernel set-up)
is the slowest and the median drops it (``--warmup N`` adds untimed
passes). A full run is about 1.3 min per T-scale model on 2 cores (twice
that at S scale): ~15 min for the 10 models of the first release.

Peak memory is the rise above the memory held before one forward+backward
(weights and input excluded): on GPU
``torch.cuda.max_memory_allocated``; on CPU it is measured in a fresh child
process per (model, size), forked from a server that has only imported the
libraries, as the rise of the resident set's high-water mark (``VmHWM``,
reset through ``/proc/self/clear_refs`` right before the step, after
``malloc_trim``) over the resident set before it. A child that dies (out of
memory) or raises gives a marked cell, not a crash; a size whose measured
peak does not fit in the memory available is not timed.

Outputs in ``--out-dir`` (default ``docs/``): ``zoo.md`` (tables, plots,
command, machine, method), ``zoo.csv``, ``zoo.json`` (every sample),
``zoo_speed_vs_macs.png`` and ``zoo_memory_vs_pixels.png``. ``--readme
FILE`` also rewrites the part of FILE between ``<!-- zoo:begin -->`` and
``<!-- zoo:end -->``. Published ImageNet-1k top-1 accuracies come from
``docs/zoo_top1.csv`` (model name, top-1, source); a model it does not
list gets a blank cell.
"""
import argparse
import csv
import datetime
import fnmatch
import inspect
import json
import math
import multiprocessing as mp
import os
import os.path as osp
import platform
import random
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mmhybrid.utils.analysis import (FWD_BWD_FACTOR, _ClsHead,
                                     add_device_arguments, build_target,
                                     count_macs, macs_to_flops, make_step,
                                     matmul_peak_flops, memory_child,
                                     peak_memory, time_step)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_TOP1 = osp.join(ROOT, 'docs', 'zoo_top1.csv')
#: Arch keys (and their ``key-suffix`` forms) that count as T/S scale.
TS_SCALES = ('t', 'tiny', 's', 'small')
DEFAULT_SIZES = ['512', '800x1216', '1024']
QUICK_SIZES = ['512']
BATCH_224 = 4
NUM_CLASSES = 1000
#: Substrings of op names that may hide multiply-accumulates; an uncounted
#: op that matches one is reported in the notes.
HEAVY_OPS = ('conv', 'mm', 'matmul', 'einsum', 'linear', 'fft', 'attention',
             'pythonop')


@dataclass
class ZooModel:
    """One row of the zoo: a backbone type with its keyword arguments."""
    name: str
    type: str
    kwargs: Dict = field(default_factory=dict)
    baseline: bool = False

    @property
    def scope(self) -> str:
        return self.type.split('.')[0] if '.' in self.type else 'mmhybrid'


#: The backbones users compare with, as detectors and segmentors use them
#: (all four stage outputs, every stage trained).
BASELINES = [
    ZooModel('ResNet-50', 'mmdet.ResNet',
             dict(depth=50, norm_eval=False), baseline=True),
    ZooModel('Swin-T', 'mmdet.SwinTransformer',
             dict(embed_dims=96, depths=(2, 2, 6, 2),
                  num_heads=(3, 6, 12, 24)), baseline=True),
    ZooModel('ConvNeXt-T', 'mmpretrain.ConvNeXt',
             dict(arch='tiny', out_indices=(0, 1, 2, 3),
                  gap_before_final_norm=False), baseline=True),
]


# ------------------------------------------------------------ discovery ----
def _canonical_archs(cls) -> List[str]:
    """``arch_zoo`` keys, one per distinct setting (aliases share one), the
    shortest spelling, in ``arch_zoo`` order."""
    zoo = getattr(cls, 'arch_zoo', None) or {}
    groups: List[List[str]] = []
    for key, value in zoo.items():
        for group in groups:
            if zoo[group[0]] == value:
                group.append(key)
                break
        else:
            groups.append([key])
    return [min(g, key=lambda k: (len(k), k)) for g in groups]


def zoo_archs(cls) -> List[Optional[str]]:
    """The variants of backbone class ``cls`` the zoo benchmarks.

    ``cls.zoo_archs`` if the class sets it; else its T/S-scale ``arch_zoo``
    keys; else its default ``arch`` (e.g. ResNet-ACmix's ``'50'``); else
    ``[None]`` (built with its defaults).
    """
    explicit = getattr(cls, 'zoo_archs', None)
    if explicit is not None:
        return list(explicit)
    canonical = _canonical_archs(cls)
    picked = [k for k in canonical if k.lower().split('-')[0] in TS_SCALES]
    if picked:
        return picked
    param = inspect.signature(cls.__init__).parameters.get('arch')
    default = None if param is None or param.default is inspect._empty \
        else param.default
    if isinstance(default, str):
        zoo = getattr(cls, 'arch_zoo', None) or {}
        for key in canonical:
            if zoo.get(key) == zoo.get(default.lower()):
                return [key]
        return [default]
    return canonical[:1] or [None]


def registered_backbones() -> List[Tuple[str, type]]:
    """(name, class) of every concrete backbone mmhybrid ships (a backbone a
    test or user registers into the node elsewhere is left out)."""
    import mmhybrid  # noqa: F401  (registers the backbones)
    from mmhybrid.models.backbones import BaseBackbone
    from mmhybrid.registry import MODELS
    return sorted((name, cls) for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, BaseBackbone)
                  and cls.__module__.startswith('mmhybrid.')
                  and not inspect.isabstract(cls))


def discover(baselines: bool = True) -> List[ZooModel]:
    """Every registered mmhybrid backbone at its zoo variants, then the
    baselines."""
    models = []
    for name, cls in registered_backbones():
        for arch in zoo_archs(cls):
            if arch is None:
                models.append(ZooModel(name, name))
            else:
                models.append(ZooModel(f'{name}-{arch.upper()}', name,
                                       dict(arch=arch)))
    return models + (list(BASELINES) if baselines else [])


def load_spec(path: str) -> List[ZooModel]:
    """Models from a JSON list of ``{"name", "type", "kwargs", "baseline"}``
    (replaces discovery; tests use it for tiny archs)."""
    with open(path) as f:
        return [ZooModel(d['name'], d['type'], dict(d.get('kwargs', {})),
                         bool(d.get('baseline', False)))
                for d in json.load(f)]


def select(models: List[ZooModel],
           patterns: Optional[Sequence[str]]) -> List[ZooModel]:
    """Models whose name matches one of the glob ``patterns`` (any case)."""
    if not patterns:
        return models
    picked = [m for m in models if any(
        fnmatch.fnmatch(m.name.lower(), p.lower()) for p in patterns)]
    if not picked:
        raise SystemExit(f'--models {list(patterns)} match none of '
                         f'{[m.name for m in models]}')
    return picked


def parse_size(text: str) -> Tuple[int, int]:
    """``'512'`` -> (512, 512); ``'800x1216'`` -> (800, 1216) (H x W)."""
    parts = text.lower().split('x')
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f'size must be N or HxW (e.g. 512, 800x1216), got {text!r}')
    h, w = int(parts[0]), int(parts[-1])
    return h, w


def size_label(hw: Tuple[int, int]) -> str:
    return f'{hw[0]}x{hw[1]}'


def load_top1(path: str) -> Dict[str, Tuple[str, str]]:
    """``{model name: (top-1, source)}`` from the published-accuracy CSV."""
    if not path or not osp.exists(path):
        return {}
    with open(path, newline='') as f:
        return {row['model']: (row['top1'].strip(), row['source'].strip())
                for row in csv.DictReader(
                    line for line in f if not line.startswith('#'))}


# ------------------------------------------------------------ measuring ----
def _build(model: ZooModel) -> torch.nn.Module:
    module, _ = build_target(model.type, None, 0, model.kwargs)
    return module


def _mem_available() -> int:
    """MemAvailable in bytes (inf where unknown)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


class MemoryProbe:
    """Peak memory of one forward+backward per (model, shape).

    CPU: a fresh child per measurement, forked from a forkserver that has
    only imported the libraries (so a child costs a model build, not a
    Python start), killed after ``timeout`` seconds. GPU: in this process.
    """

    def __init__(self, device: str, threads: int, scopes: Sequence[str],
                 timeout: float = 900.) -> None:
        self.device = device
        self.threads = threads
        self.timeout = timeout
        self.ctx = None
        if not device.startswith('cuda'):
            method = 'forkserver' if 'forkserver' in \
                mp.get_all_start_methods() else 'spawn'
            self.ctx = mp.get_context(method)
            if method == 'forkserver':
                preload = ['torch', 'mmhybrid.utils.analysis', 'mmhybrid']
                preload += [f'{s}.models' for s in scopes if s != 'mmhybrid']
                self.ctx.set_forkserver_preload(preload)

    def __call__(self, model: ZooModel, module: torch.nn.Module,
                 shape: Sequence[int]) -> Tuple[str, object]:
        """('ok', bytes) or ('OOM' | 'error' | 'timeout', message)."""
        if self.ctx is None:
            x = torch.rand(*shape, device=self.device)
            try:
                return 'ok', peak_memory(make_step(module, x, 'fwd-bwd'),
                                         self.device)
            except torch.cuda.OutOfMemoryError:
                return 'OOM', 'CUDA out of memory'
            except Exception as e:
                return 'error', f'{type(e).__name__}: {e}'.splitlines()[0]
            finally:
                module.zero_grad(set_to_none=True)
                del x
                torch.cuda.empty_cache()
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=memory_child,
                                args=(send, model.type, model.kwargs,
                                      tuple(shape), self.threads))
        proc.start()
        send.close()
        result = None
        if recv.poll(self.timeout):
            try:
                result = recv.recv()
            except EOFError:  # died before sending (killed)
                pass
        proc.join(5 if result is not None else 0.1)
        if proc.is_alive():
            proc.kill()
            proc.join()
            if result is None:
                return 'timeout', f'no result in {self.timeout:.0f} s'
        if result is None:
            code = proc.exitcode
            if code is not None and code < 0:
                return 'OOM', (f'child killed by signal {-code} (likely '
                               'out of memory)')
            return 'error', f'child exited with code {code}'
        status, value, _ = result
        if status == 'ok':
            return 'ok', value
        oom = 'out of memory' in value.lower() or 'MemoryError' in value
        return ('OOM' if oom else 'error'), value


def _note(text: str) -> None:
    """Print a line without breaking the progress bar."""
    try:
        from tqdm import tqdm
        tqdm.write(text, file=sys.stderr)
    except ImportError:
        print(text, file=sys.stderr)


def _progress(total: int):
    try:
        from tqdm import tqdm
        return tqdm(total=total, unit='step', dynamic_ncols=True,
                    file=sys.stderr)
    except ImportError:  # a plain counter
        class _Bar:
            n = 0

            def set_description_str(self, s):
                self.desc = s

            def update(self, k=1):
                self.n += k
                print(f'[{self.n}/{total}] {self.desc}', file=sys.stderr)

            def close(self):
                pass

        return _Bar()


@dataclass
class Task:
    """A timed workload: (mode, input shape)."""
    mode: str
    shape: Tuple[int, int, int, int]

    @property
    def key(self) -> str:
        n, _, h, w = self.shape
        return f'{self.mode} {n}x3x{h}x{w}'


def run_zoo(models: List[ZooModel], sizes: List[Tuple[int, int]],
            repeats: int, warmup: int, device: str, threads: int,
            memory: bool = True, seed: int = 0, mem_timeout: float = 900.,
            batch_224: int = BATCH_224) -> Dict:
    """Measure ``models``; returns the raw results (see :func:`summarise`)."""
    torch.manual_seed(seed)
    t_start = time.time()
    tasks_224 = [Task('fwd', (batch_224, 3, 224, 224)),
                 Task('fwd-bwd', (batch_224, 3, 224, 224))]
    tasks_det = [Task('fwd-bwd', (1, 3, h, w)) for h, w in sizes]
    results = {m.name: dict(model=m, status='ok', notes=[], times={},
                            memory={}) for m in models}
    n_mem = len(models) * len(sizes) if memory else 0
    n_time = len(models) * (len(tasks_224) + len(tasks_det)) * (
        warmup + repeats)
    bar = _progress(len(models) + n_mem + n_time)

    # 1. build; params and MACs at 224 with a 1000-class head
    built = {}
    for m in models:
        bar.set_description_str(f'build + count {m.name}')
        r = results[m.name]
        try:
            module = _build(m)
            head = _ClsHead(module, NUM_CLASSES)
            r['params'] = sum(p.numel() for p in head.parameters())
            macs, uncounted = count_macs(head, torch.rand(1, 3, 224, 224))
            r['macs_224'] = macs
            # element-wise ops are not MACs; name only ops that may be
            heavy = {k: v for k, v in uncounted.items()
                     if any(w in k.lower() for w in HEAVY_OPS)}
            if heavy:
                r['notes'].append('MACs not counted for: ' + ', '.join(
                    f'{k} x{v}' for k, v in sorted(heavy.items())))
            built[m.name] = module.to(device)
        except Exception as e:
            r['status'] = f'build failed: {type(e).__name__}: {e}'
            r['notes'].append(r['status'].splitlines()[0][:200])
        bar.update()
    live = [m for m in models if m.name in built]

    # 2. peak memory, one fresh measurement per (model, size)
    if memory:
        probe = MemoryProbe(device, threads, {m.scope for m in live},
                            mem_timeout)
        for hw in sizes:  # size-major: a slow size shows early
            for m in models:
                bar.set_description_str(f'memory {m.name} {size_label(hw)}')
                if m.name in built:
                    status, value = probe(m, built[m.name], (1, 3, *hw))
                    results[m.name]['memory'][size_label(hw)] = (
                        value if status == 'ok' else status)
                    if status != 'ok':
                        results[m.name]['notes'].append(
                            f'{size_label(hw)}: {value}')
                bar.update()

    # 3. timing: warm-up pass, then `repeats` passes in shuffled order
    def runnable(m: ZooModel, task: Task) -> Optional[str]:
        """None, or why ``task`` is not timed for ``m``."""
        if task.shape[0] != 1 or not memory:
            return None
        mem = results[m.name]['memory'].get(size_label(task.shape[2:]))
        if isinstance(mem, str):
            return mem
        params = sum(p.numel() * p.element_size()
                     for p in built[m.name].parameters())
        if not device.startswith('cuda') and mem is not None and \
                mem + params > 0.9 * _mem_available():
            return 'skipped (memory)'
        return None

    steps = {}
    for m in live:
        for task in tasks_224 + tasks_det:
            why = runnable(m, task)
            if why is None:
                x = torch.rand(*task.shape, device=device)
                steps[m.name, task.key] = make_step(built[m.name], x,
                                                    task.mode)
            else:
                results[m.name]['times'][task.key] = why
    rng = random.Random(seed)
    pass_start = time.time()
    for rep in range(-warmup, repeats):
        if rep == -warmup + 1:
            per_pass = time.time() - pass_start
            _note(f'first pass: {per_pass:.0f} s; the remaining '
                  f'{repeats + warmup - 1} take about '
                  f'{(repeats + warmup - 1) * per_pass / 60:.1f} min')
        order = list(live)
        rng.shuffle(order)
        for m in order:
            for task in tasks_224 + tasks_det:
                bar.set_description_str(
                    f'{"warm-up" if rep < 0 else f"pass {rep + 1}/{repeats}"}'
                    f' {m.name} {task.key}')
                step = steps.get((m.name, task.key))
                times = results[m.name]['times']
                if step is not None:
                    try:
                        t = time_step(step, device)
                        if rep >= 0:
                            times.setdefault(task.key, []).append(t)
                    except Exception as e:
                        oom = 'out of memory' in str(e).lower()
                        times[task.key] = 'OOM' if oom else 'error'
                        results[m.name]['notes'].append(
                            f'{task.key}: {type(e).__name__}: '
                            f'{str(e).splitlines()[0][:200]}')
                        del steps[m.name, task.key]
                        built[m.name].zero_grad(set_to_none=True)
                        if device.startswith('cuda'):
                            torch.cuda.empty_cache()
                bar.update()
    bar.close()
    return dict(results=results, tasks_224=tasks_224, tasks_det=tasks_det,
                sizes=sizes, repeats=repeats, warmup=warmup, device=device,
                threads=threads, seconds=time.time() - t_start,
                matmul_peak_flops=matmul_peak_flops(device))


# ------------------------------------------------------------ reporting ----
def machine_description(device: str, threads: int) -> str:
    if device.startswith('cuda'):
        what = torch.cuda.get_device_name(device)
    else:
        what = platform.processor() or platform.machine()
        try:
            with open('/proc/cpuinfo') as f:
                for line in f:
                    if line.startswith('model name'):
                        what = line.split(':', 1)[1].strip()
                        break
        except OSError:
            pass
        cores = len(os.sched_getaffinity(0)) if hasattr(
            os, 'sched_getaffinity') else os.cpu_count()
        what += f', {cores} cores available, {threads} torch threads'
    return (f'{what}; Python {platform.python_version()}, torch '
            f'{torch.__version__}')


def _median(v) -> Optional[float]:
    return statistics.median(v) if isinstance(v, list) and v else None


def _growth_exponent(mem: Dict[str, object]) -> Optional[float]:
    """Least-squares slope of log(memory) against log(pixels)."""
    pts = [(math.log(h * w), math.log(v)) for k, v in mem.items()
           if isinstance(v, (int, float)) and v > 0
           for h, w in [parse_size(k)]]
    if len(pts) < 2 or len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sum(
        (x - mx)**2 for x, _ in pts)


def summarise(raw: Dict, top1: Dict[str, Tuple[str, str]]) -> List[Dict]:
    """One flat row per model (the CSV's columns)."""
    rows = []
    for name, r in raw['results'].items():
        m = r['model']
        acc, source = top1.get(name, ('', ''))
        row = dict(model=name, scope=m.scope, type=m.type,
                   kwargs=json.dumps(m.kwargs, sort_keys=True),
                   baseline=m.baseline, top1=acc, top1_source=source,
                   params_m=round(r['params'] / 1e6, 2)
                   if 'params' in r else '',
                   gmacs_224=round(r['macs_224'] / 1e9, 2)
                   if 'macs_224' in r else '')
        for task in raw['tasks_224'] + raw['tasks_det']:
            col = f'time_{task.mode}_{"x".join(map(str, task.shape))}_s'
            v = r['times'].get(task.key, r['status'] != 'ok' and 'n/a')
            med = _median(v)
            row[col] = round(med, 4) if med is not None else (v or '')
        for hw in raw['sizes']:
            v = r['memory'].get(size_label(hw), '')
            row[f'mem_fwd-bwd_1x3x{size_label(hw)}_mib'] = \
                round(v / 2**20) if isinstance(v, (int, float)) else v
        exp = _growth_exponent(r['memory'])
        row['mem_growth_exponent'] = round(exp, 2) if exp is not None else ''
        row['notes'] = '; '.join(r['notes'])
        rows.append(row)
    return rows


def write_csv(rows: List[Dict], path: str) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _fmt_time(v) -> str:
    if isinstance(v, float):
        return f'{v:.3f}' if v < 10 else f'{v:.1f}'
    return f'**{v}**' if v else ''


def _fmt(v, marked: bool = True) -> str:
    if isinstance(v, str) and v and marked and not \
            v.replace('.', '', 1).isdigit():
        return f'**{v}**'
    return str(v)


def markdown_section(rows: List[Dict], raw: Dict, command: str,
                     img_prefix: str = '',
                     heading: str = '## Model zoo at a glance') -> str:
    """The tables, plots, command and machine as one markdown section."""
    t224 = raw['tasks_224']
    det = raw['tasks_det']
    col = {t.key: f'time_{t.mode}_{"x".join(map(str, t.shape))}_s'
           for t in t224 + det}
    out = [heading, '',
           f'All models in one run on the same machine, interleaved '
           f'(median of {raw["repeats"]} passes'
           + (f' after {raw["warmup"]} warm-up pass(es)' if raw['warmup']
              else '') +
           f'): {raw["machine"]}, {raw["date"]}; the run took '
           f'{raw["seconds"] / 60:.1f} min. Regenerate with:', '',
           '```bash', command, '```', '',
           'ImageNet-scale: params and MACs (the papers\' "FLOPs") at '
           '224x224 with a 1000-class head; forward (eval) and '
           f'forward+backward time of a {t224[0].shape[0]}x3x224x224 batch '
           '(backbone only); published ImageNet-1k top-1 of the variant '
           '(sources in [`docs/zoo_top1.csv`]'
           f'({img_prefix}zoo_top1.csv); blank: none published).', '',
           '| model | top-1 (%) | params (M) | GMACs | fwd (s) | '
           'fwd+bwd (s) |',
           '|---|---|---|---|---|---|']
    for r in rows:
        name = f'{r["model"]} ({r["scope"]})' if r['baseline'] else \
            r['model']
        out.append(f'| {name} | {r["top1"]} | {_fmt(r["params_m"])} | '
                   f'{_fmt(r["gmacs_224"])} | '
                   f'{_fmt_time(r[col[t224[0].key]])} | '
                   f'{_fmt_time(r[col[t224[1].key]])} |')
    if det:
        labels = [size_label(t.shape[2:]) for t in det]
        out += ['', 'Detection-scale, batch 1, forward+backward of the '
                'backbone: time (s) and peak memory (MiB above the weights '
                'and input); "growth" is the log-log slope of memory '
                'against pixels (1: linear, 2: quadratic). **OOM** / '
                '**error**: the model could not run that size (details in '
                '`zoo.csv`).', '',
                '| model | ' + ' | '.join(f'time {s}' for s in labels) +
                ' | ' + ' | '.join(f'memory {s}' for s in labels) +
                ' | growth |',
                '|---|' + '---|' * (2 * len(labels) + 1)]
        for r in rows:
            name = f'{r["model"]} ({r["scope"]})' if r['baseline'] else \
                r['model']
            times = [_fmt_time(r[col[t.key]]) for t in det]
            mems = [_fmt(r[f'mem_fwd-bwd_1x3x{s}_mib']) for s in labels]
            out.append(f'| {name} | ' + ' | '.join(times + mems) +
                       f' | {r["mem_growth_exponent"]} |')
    out += ['', f'![fwd+bwd time vs MACs]({img_prefix}'
            'zoo_speed_vs_macs.png)',
            f'![peak memory vs pixels]({img_prefix}'
            'zoo_memory_vs_pixels.png)', '',
            'Method: `tools/analysis_tools/benchmark_zoo.py` (docstring). '
            'Forward+backward = `sum(mean(output_i)).backward()` over the '
            'four stage outputs. CPU peak memory: one fresh process per '
            '(model, size), the rise of the resident set\'s high-water '
            'mark during one forward+backward; GPU: '
            '`torch.cuda.max_memory_allocated`. MACs count FFTs and fused '
            'attention (`mmhybrid/utils/flops.py`). The dashed line in the '
            'first plot is the time at the measured fp32 matmul peak '
            f'({raw["matmul_peak_flops"] / 1e9:.0f} GFLOP/s, '
            f'{FWD_BWD_FACTOR} x 2 FLOPs per MAC).']
    return '\n'.join(out) + '\n'


def plot(rows: List[Dict], raw: Dict, out_dir: str) -> List[str]:
    """The two figures; returns the files written (none without
    matplotlib)."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed: no plots', file=sys.stderr)
        return []
    families = sorted({r['type'] for r in rows if not r['baseline']})
    cmap = plt.get_cmap('tab10')
    colour = {f: cmap(i % 10) for i, f in enumerate(families)}
    # one colour per family (baselines black), one marker/line per variant
    markers, lines = 'o^vDPX', ['-', '--', '-.', (0, (1, 1))]
    seen: Dict[str, int] = {}
    styles = {}
    for r in rows:
        family = 'baseline' if r['baseline'] else r['type']
        i = seen[family] = seen.get(family, -1) + 1
        styles[r['model']] = dict(
            color='black' if r['baseline'] else colour[r['type']],
            marker='sDP*'[i % 4] if r['baseline'] else markers[i % 6],
            ls=':' if r['baseline'] else lines[i % 4])

    def style(r):
        return styles[r['model']]

    files = []
    # fwd+bwd time at 224 vs MACs
    t = raw['tasks_224'][1]
    tcol = f'time_{t.mode}_{"x".join(map(str, t.shape))}_s'
    fig, ax = plt.subplots(figsize=(8, 5.5))
    xs = []
    for r in rows:
        x, y = r['gmacs_224'], r[tcol]
        if isinstance(x, float) and isinstance(y, float):
            st = style(r)
            ax.scatter([x], [y], s=36, color=st['color'], marker=st['marker'])
            ax.annotate(r['model'], (x, y), textcoords='offset points',
                        xytext=(4, 4), fontsize=8)
            xs.append(x)
    if xs:
        peak = raw['matmul_peak_flops']
        grid = [0, max(xs) * 1.1]
        ax.plot(grid, [macs_to_flops(g * 1e9 * FWD_BWD_FACTOR * t.shape[0])
                       / peak for g in grid], '--', color='grey', lw=1,
                label='at the measured matmul peak')
        ax.legend(loc='upper left', fontsize=8)
    ax.set_xlabel('GMACs at 224x224 (the papers\' "FLOPs")')
    ax.set_ylabel(f'forward+backward time, {t.shape[0]}x3x224x224 (s)')
    ax.set_title(f'Training step time vs MACs ({raw["device"]})')
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=.3)
    fig.tight_layout()
    path = osp.join(out_dir, 'zoo_speed_vs_macs.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)

    # peak memory vs pixels, log-log
    fig, ax = plt.subplots(figsize=(8, 5.5))
    sizes = raw['sizes']
    anchors = []
    for r in rows:
        pts = [(h * w, r[f'mem_fwd-bwd_1x3x{size_label((h, w))}_mib'])
               for h, w in sizes]
        pts = [(p, v) for p, v in pts if isinstance(v, (int, float)) and v]
        if not pts:
            continue
        ax.plot([p for p, _ in pts], [v for _, v in pts], lw=1.2, ms=4,
                label=r['model'], **style(r))
        anchors.append(pts[0])
    if anchors and len(sizes) > 1:
        p0 = min(h * w for h, w in sizes)
        p1 = max(h * w for h, w in sizes)
        v0 = statistics.median(v for p, v in anchors if p == p0) \
            if any(p == p0 for p, _ in anchors) else anchors[0][1]
        for k, lbl in ((1, 'linear'), (2, 'quadratic')):
            ax.plot([p0, p1], [v0, v0 * (p1 / p0)**k], color='grey', lw=.8,
                    ls='--')
            ax.annotate(lbl, (p1, v0 * (p1 / p0)**k), fontsize=8,
                        color='grey', textcoords='offset points',
                        xytext=(3, 0))
    ax.set_xscale('log')
    ax.set_yscale('log')
    pixels = sorted({h * w for h, w in sizes})
    ax.set_xticks(pixels, [f'{p / 1e6:.2f}M' for p in pixels], rotation=45)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel('pixels (H x W), batch 1')
    ax.set_ylabel('peak memory of forward+backward (MiB)')
    ax.set_title('Memory growth with the image '
                 f'({", ".join(size_label(s) for s in sizes)})')
    ax.grid(alpha=.3, which='both')
    ax.legend(fontsize=7, ncol=2, loc='upper left')
    fig.tight_layout()
    path = osp.join(out_dir, 'zoo_memory_vs_pixels.png')
    fig.savefig(path, dpi=110)
    plt.close(fig)
    files.append(path)
    return files


def update_readme(path: str, section: str) -> None:
    """Replace the text between the zoo markers of ``path``."""
    begin, end = '<!-- zoo:begin -->', '<!-- zoo:end -->'
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise SystemExit(f'{path} has no {begin} ... {end} markers')
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, 'w') as f:
        f.write(f'{head}{begin}\n{section}{end}{tail}')


def _jsonable(raw: Dict, rows: List[Dict]) -> Dict:
    res = {}
    for name, r in raw['results'].items():
        res[name] = {k: v for k, v in r.items() if k != 'model'}
        res[name].update(type=r['model'].type, kwargs=r['model'].kwargs,
                         baseline=r['model'].baseline)
    return dict(
        {k: v for k, v in raw.items()
         if k not in ('results', 'tasks_224', 'tasks_det')},
        tasks=[t.key for t in raw['tasks_224'] + raw['tasks_det']],
        results=res, rows=rows)


# ------------------------------------------------------------------ CLI ----
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark every registered backbone and the baselines',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--out-dir', default=osp.join(ROOT, 'docs'))
    parser.add_argument('--quick', action='store_true',
                        help='a minute-long subset: the first zoo variant '
                        'of each backbone, ResNet-50, size 512, 1 pass')
    parser.add_argument('--models', nargs='+',
                        help='glob patterns on model names (see --list)')
    parser.add_argument('--sizes', nargs='*', type=parse_size,
                        help='detection sizes, N or HxW (default '
                        f'{" ".join(DEFAULT_SIZES)}; quick: 512)')
    parser.add_argument('--repeats', type=int, help='timed passes '
                        '(default 3; quick: 1)')
    parser.add_argument('--warmup', type=int, default=0,
                        help='untimed warm-up passes (the median of 3 '
                        'already drops the cold first pass)')
    parser.add_argument('--batch-224', type=int, default=BATCH_224,
                        help='batch of the 224x224 timings')
    add_device_arguments(parser)
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory measurements')
    parser.add_argument('--no-baselines', action='store_true')
    parser.add_argument('--spec', help='JSON list of models '
                        '({"name", "type", "kwargs", "baseline"}) instead '
                        'of the registry')
    parser.add_argument('--top1', default=DEFAULT_TOP1,
                        help='CSV of published top-1 (model,top1,source)')
    parser.add_argument('--readme', help='also rewrite the part of this '
                        'file between <!-- zoo:begin --> and '
                        '<!-- zoo:end -->')
    parser.add_argument('--mem-timeout', type=float, default=900.,
                        help='seconds per memory measurement')
    parser.add_argument('--list', action='store_true',
                        help='print the models and tasks, measure nothing')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    models = load_spec(args.spec) if args.spec else discover(
        not args.no_baselines)
    if args.no_baselines:
        models = [m for m in models if not m.baseline]
    if args.quick and not args.models and not args.spec:
        first = {}
        for m in models:
            first.setdefault(m.type, m)
        models = [m for m in first.values()
                  if not m.baseline or m.name == 'ResNet-50']
    models = select(models, args.models)
    sizes = args.sizes if args.sizes is not None else [
        parse_size(s) for s in (QUICK_SIZES if args.quick else DEFAULT_SIZES)]
    repeats = args.repeats or (1 if args.quick else 3)
    if args.list:
        for m in models:
            print(f'{m.name:28s} {m.type}({m.kwargs})')
        print(f'sizes: {[size_label(s) for s in sizes]}, repeats: '
              f'{repeats}, warm-up: {args.warmup}, device: {args.device}, '
              f'threads: {threads}')
        return
    top1 = load_top1(args.top1)
    unmatched = sorted(set(top1) - {m.name for m in models})
    if unmatched and not args.models and not args.quick and not args.spec:
        print(f'note: {args.top1} lists models not benchmarked: '
              f'{unmatched}', file=sys.stderr)
    print(f'{len(models)} models: {", ".join(m.name for m in models)}; '
          f'sizes {[size_label(s) for s in sizes]}; {repeats} passes',
          file=sys.stderr)
    raw = run_zoo(models, sizes, repeats, args.warmup, args.device, threads,
                  memory=not args.no_memory, seed=args.seed,
                  mem_timeout=args.mem_timeout, batch_224=args.batch_224)
    raw['machine'] = machine_description(args.device, threads)
    raw['date'] = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M UTC')
    raw['command'] = 'python tools/analysis_tools/benchmark_zoo.py ' + \
        ' '.join(shlex.quote(a) for a in (
            sys.argv[1:] if argv is None else argv))
    rows = summarise(raw, top1)
    os.makedirs(args.out_dir, exist_ok=True)
    write_csv(rows, osp.join(args.out_dir, 'zoo.csv'))
    with open(osp.join(args.out_dir, 'zoo.json'), 'w') as f:
        json.dump(_jsonable(raw, rows), f, indent=1, default=str)
    with open(osp.join(args.out_dir, 'zoo.md'), 'w') as f:
        f.write(markdown_section(rows, raw, raw['command'].strip()))
    files = plot(rows, raw, args.out_dir)
    if args.readme:
        rel = osp.relpath(args.out_dir, osp.dirname(osp.abspath(
            args.readme)))
        update_readme(args.readme, markdown_section(
            rows, raw, raw['command'].strip(), img_prefix=rel + '/'))
    print(f'{raw["seconds"] / 60:.1f} min; wrote zoo.md, zoo.csv, zoo.json'
          f'{", " if files else ""}'
          f'{", ".join(osp.basename(p) for p in files)} to {args.out_dir}',
          file=sys.stderr)


if __name__ == '__main__':
    main()
