"""The zoo's measurements: build every model, count its parameters and MACs,
probe its peak memory, then time every task in interleaved passes.

Times are medians over ``repeats`` passes; every pass visits all models and
tasks in a fresh random order, so that machine noise hits all models alike;
the first, cold pass (one-off allocations and kernel set-up) is the slowest
and the median drops it (``warmup`` adds untimed passes). A size whose
measured peak does not fit in the memory available is not timed.
"""
import random
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch

from ..analysis import ClsHead, make_step
from ..flops import count_macs
from ..procfs import mem_available
from ..timing import matmul_peak_flops, time_step
from .models import ZooModel, size_label
from .probe import MemoryProbe

BATCH_224 = 4
NUM_CLASSES = 1000
#: Substrings of op names that may hide multiply-accumulates; an uncounted
#: op that matches one is reported in the notes.
HEAVY_OPS = ('conv', 'mm', 'matmul', 'einsum', 'linear', 'fft', 'attention',
             'pythonop')


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
            module = m.build()
            head = ClsHead(module, NUM_CLASSES)
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
                mem + params > 0.9 * mem_available():
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
