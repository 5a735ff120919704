"""Throughput, latency and peak memory of a backbone or a whole model.

    python tools/analysis_tools/benchmark.py HorNet --arch t \
        --shape 4 3 224 224 --mode fwd-bwd --runs 10
    python tools/analysis_tools/benchmark.py mmdet.ResNet --kwargs depth=50
    python tools/analysis_tools/benchmark.py CONFIG --shape 1 3 800 1216
    # where the memory of a forward+backward goes (no timing):
    python tools/analysis_tools/benchmark.py HorNet --arch t \
        --shape 1 3 800 1216 --memory-breakdown

Warm-up runs, then the median of --runs timed runs. Peak memory (of the
first run, above the weights and the input): CUDA's max_memory_allocated on
GPU; on CPU the rise of the process's peak resident set (VmHWM, reset right
before the run) over its resident set before the run.

Units: ``gmacs`` are giga multiply-accumulates (the papers' "FLOPs", as
get_flops.py reports them) of the timed work: batch x per-image forward
MACs, x3 for fwd-bwd. ``achieved_gflop_per_s`` is 2 x MACs / median time, in
real FLOPs, the unit of the measured fp32 matmul peak (2 n^3 / t), so that
``ratio_to_peak`` = achieved / peak compares like with like.

``--memory-breakdown`` replaces the timing: the peak of a first
forward+backward, then the tensors a second one saves for backward, by op
(``grad_fn`` type) and by module, counted once per storage, next to the
allocator's bytes live after the forward and at the peak
(mmhybrid.utils.memory_breakdown).
"""
import argparse
import json
import statistics

import torch
from mmengine.config import DictAction

from mmhybrid.utils.analysis import build_target, make_step
from mmhybrid.utils.flops import FWD_BWD_FACTOR, count_macs, macs_to_flops
from mmhybrid.utils.memory import peak_memory
from mmhybrid.utils.memory_breakdown import (MIB, breakdown_tables,
                                             measure_breakdown)
from mmhybrid.utils.timing import (add_device_arguments, matmul_peak_flops,
                                   time_step)


def parse_args():
    parser = argparse.ArgumentParser(description='Speed and memory')
    parser.add_argument('target', help='config file or backbone type')
    parser.add_argument('--arch', help='backbone arch (for a backbone type)')
    parser.add_argument('--shape', type=int, nargs=4,
                        default=[4, 3, 224, 224], help='input N C H W')
    parser.add_argument('--mode', choices=['fwd', 'fwd-bwd'],
                        default='fwd-bwd')
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    add_device_arguments(parser)
    parser.add_argument('--amp', action='store_true',
                        help='autocast (fp16 on GPU, bf16 on CPU)')
    parser.add_argument('--num-classes', type=int, default=0,
                        help='add a classification head (backbone only)')
    parser.add_argument('--kwargs', nargs='+', action=DictAction, default={},
                        help='extra backbone arguments')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--json', action='store_true', help='print JSON')
    parser.add_argument('--memory-breakdown', action='store_true',
                        help='instead of timing: the tensors saved for '
                        'backward by op and by module, and the peak')
    parser.add_argument('--top', type=int, default=10,
                        help='rows per --memory-breakdown table')
    args = parser.parse_args()
    if args.memory_breakdown and args.mode != 'fwd-bwd':
        parser.error('--memory-breakdown measures a forward+backward '
                     '(--mode fwd-bwd)')
    return args


def benchmark(model: torch.nn.Module, shape, mode: str = 'fwd-bwd',
              runs: int = 10, warmup: int = 2, device: str = 'cpu',
              amp: bool = False, peak_flops: float = None) -> dict:
    """Time ``model`` on a random ``shape`` batch and relate it to the
    device's matmul peak (see the module docstring for the units)."""
    model.to(device)
    x = torch.rand(*shape, device=device)
    step = make_step(model, x, mode, amp)
    # The first run measures memory (the high-water mark is reset before it,
    # so tracing or warm-up elsewhere cannot inflate it) and warms up.
    peak = peak_memory(step, device)
    for _ in range(warmup - 1):
        step()
    times = [time_step(step, device) for _ in range(runs)]
    # MACs after the timed runs: tracing allocates too.
    macs_per_image, _ = count_macs(model, x[:1])
    macs = macs_per_image * shape[0] * (FWD_BWD_FACTOR
                                        if mode == 'fwd-bwd' else 1)
    median = statistics.median(times)
    achieved = macs_to_flops(macs) / median
    if peak_flops is None:
        peak_flops = matmul_peak_flops(device)
    return dict(
        # four significant digits: a millisecond step rounded to 1e-4 s would
        # be off by several percent.
        median_s=float(f'{median:.4g}'), min_s=float(f'{min(times):.4g}'),
        images_per_s=round(shape[0] / median, 2),
        peak_mem_mib=round(peak / 2**20, 1),
        gmacs_per_image_fwd=round(macs_per_image / 1e9, 3),
        gmacs=round(macs / 1e9, 3),
        achieved_gflop_per_s=round(achieved / 1e9, 1),
        matmul_peak_gflop_per_s=round(peak_flops / 1e9, 1),
        ratio_to_peak=round(achieved / peak_flops, 3))


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, desc = build_target(args.target, args.arch, args.num_classes,
                               args.kwargs, args.cfg_options)
    result = dict(model=desc, device=args.device,
                  threads=torch.get_num_threads(), input=args.shape,
                  mode=args.mode, amp=args.amp)
    if args.memory_breakdown:
        return print_breakdown(result, measure_breakdown(
            model, torch.rand(*args.shape), args.device, args.amp), args)
    result.update(benchmark(model, args.shape, args.mode, args.runs,
                            args.warmup, args.device, args.amp))
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f'{k}: {v}')
    print('(gmacs: multiply-accumulates, the papers\' "FLOPs"; '
          'achieved and peak in real FLOP/s = 2 x MAC/s)')


def print_breakdown(result: dict, breakdown: dict, args) -> None:
    """The summary lines, then the by-op and by-module tables."""
    result.update(breakdown)
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        if k.endswith('_bytes'):
            print(f'{k[:-len("_bytes")]}_mib: {v / MIB:.1f}')
        elif not k.startswith('by_'):
            print(f'{k}: {v}')
    live = breakdown['live_after_forward_bytes']
    print(f'saved / live after forward: '
          f'{breakdown["saved_bytes"] / max(live, 1):.3f}\n')
    print(breakdown_tables(breakdown, args.top))


if __name__ == '__main__':
    main()
