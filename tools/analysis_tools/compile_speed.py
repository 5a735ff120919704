"""Eager vs ``torch.compile`` inference time of backbones (CPU or GPU).

    python tools/analysis_tools/compile_speed.py HorNet:t ResNetACmix:50 \
        --shape 1 3 224 224 --runs 10

Each target is ``Type[:arch]`` (default arch without ``:arch``), in eval
mode under ``torch.no_grad()``. The compiled model is
``torch.compile(model, dynamic=True)`` (inductor), warmed up (the first
call compiles; its time is reported) and checked against eager (max abs
difference). Eager and compiled runs alternate, so that a load change on a
shared machine hits both; the median of ``--runs`` of each is reported.

Each target compiles in a fresh, empty inductor cache (a temporary
``TORCHINDUCTOR_CACHE_DIR``, removed afterwards, and inductor's in-memory
caches cleared), so "first call" is the whole compile even when an earlier
run or target compiled the same kernels. ``--warm-cache`` keeps the usual
cache instead: "first call" is then what a repeated run pays.
"""
import argparse
import contextlib
import json
import statistics

import torch

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS
from mmhybrid.utils.timing import time_step


def parse_args():
    parser = argparse.ArgumentParser(description='eager vs torch.compile')
    parser.add_argument('targets', nargs='+', help='Type[:arch] ...')
    parser.add_argument('--shape', type=int, nargs=4, default=[1, 3, 224, 224],
                        help='input N C H W')
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', action='store_true', help='print JSON')
    parser.add_argument(
        '--warm-cache', action='store_true',
        help='compile with the default inductor cache (kernels of earlier '
        'runs are reused) instead of a fresh empty one per target')
    return parser.parse_args()


def measure(target: str, shape, runs: int, device: str,
            warm_cache: bool = False) -> dict:
    """Times (s) of eager and compiled forwards of ``target``, compiled in
    a fresh inductor cache unless ``warm_cache``."""
    from torch._inductor.utils import fresh_cache
    with contextlib.nullcontext() if warm_cache else fresh_cache():
        return _measure(target, shape, runs, device)


def _measure(target: str, shape, runs: int, device: str) -> dict:
    name, _, arch = target.partition(':')
    cfg = dict(type=name, **(dict(arch=arch) if arch else {}))
    model = MODELS.build(cfg).to(device).eval()
    x = torch.rand(*shape, device=device)
    torch._dynamo.reset()
    compiled = torch.compile(model, dynamic=True)
    with torch.no_grad():
        compile_s = time_step(lambda: compiled(x), device)
        outs = compiled(x)
        diff = max(float((o - r).abs().max())
                   for o, r in zip(outs, model(x)))
        for _ in range(2):  # warm-up
            model(x), compiled(x)
        eager, comp = [], []
        for _ in range(runs):  # interleaved
            eager.append(time_step(lambda: model(x), device))
            comp.append(time_step(lambda: compiled(x), device))
    e, c = statistics.median(eager), statistics.median(comp)
    return dict(target=target, shape=list(shape), eager_ms=1e3 * e,
                compiled_ms=1e3 * c, speedup=e / c, compile_s=compile_s,
                max_abs_diff=diff)


def main():
    args = parse_args()
    rows = [measure(t, args.shape, args.runs, args.device, args.warm_cache)
            for t in args.targets]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print('| backbone | eager ms | compiled ms | speed-up | first call s '
          '| max abs diff |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['target']} | {r['eager_ms']:.1f} | "
              f"{r['compiled_ms']:.1f} | {r['speedup']:.2f}x | "
              f"{r['compile_s']:.0f} | {r['max_abs_diff']:.1e} |")


if __name__ == '__main__':
    main()
