"""Throughput, latency and peak memory of a backbone or a whole model.

    python tools/analysis_tools/benchmark.py HorNet --arch t \
        --shape 4 3 224 224 --mode fwd-bwd --runs 10
    python tools/analysis_tools/benchmark.py CONFIG --shape 1 3 800 1216

Warm-up runs, then the median of --runs timed runs. Peak memory: CUDA's
max_memory_allocated on GPU; on CPU the rise of the process's peak resident
set (VmHWM) over its level before the first run (so run one measurement per
process).
The achieved GFLOP/s (FLOPs from get_flops' counter, x3 for fwd-bwd) is
compared with the machine's measured fp32 matmul peak.
"""
import argparse
import json
import statistics
import time

import torch
from mmengine.config import DictAction

from mmhybrid.utils.analysis import build_target, sum_outputs
from mmhybrid.utils.flops import flop_analyzer


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
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: torch default)')
    parser.add_argument('--amp', action='store_true',
                        help='autocast (fp16 on GPU, bf16 on CPU)')
    parser.add_argument('--kwargs', nargs='+', action=DictAction, default={},
                        help='extra backbone arguments')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--json', action='store_true', help='print JSON')
    return parser.parse_args()


def _vm_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def matmul_peak_gflops(device: str, n: int = 2048, reps: int = 5) -> float:
    """Measured fp32 matmul throughput of this device."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    times = []
    for _ in range(reps + 1):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times[1:]) / 1e9


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    model, desc = build_target(args.target, args.arch, 0, args.kwargs,
                               args.cfg_options)
    x = torch.rand(*args.shape)
    model.to(device).train(args.mode == 'fwd-bwd')
    x = x.to(device)
    amp_dtype = torch.float16 if device.startswith('cuda') else torch.bfloat16

    def step():
        with torch.autocast(device.split(':')[0], dtype=amp_dtype,
                            enabled=args.amp):
            if args.mode == 'fwd':
                with torch.no_grad():
                    model(x)
            else:
                sum_outputs(model(x)).backward()
                model.zero_grad(set_to_none=True)

    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
        base_mem = torch.cuda.memory_allocated()
    else:
        base_mem = _vm_kib('VmRSS') * 1024
    times = []
    for i in range(args.warmup + args.runs):
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    if device.startswith('cuda'):
        peak = torch.cuda.max_memory_allocated() - base_mem
    else:
        peak = _vm_kib('VmHWM') * 1024 - base_mem
    # FLOPs after the timed runs, so that tracing does not raise VmHWM first.
    model.eval()
    with torch.no_grad():
        analyzer = flop_analyzer(model, (x[:1], ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = analyzer.total() * args.shape[0]
    flops *= 3 if args.mode == 'fwd-bwd' else 1
    median = statistics.median(times)
    achieved = flops / median / 1e9
    peak_gflops = matmul_peak_gflops(device)
    result = dict(
        model=desc, device=device, threads=torch.get_num_threads(),
        input=args.shape, mode=args.mode, amp=args.amp,
        median_s=round(median, 4), min_s=round(min(times), 4),
        images_per_s=round(args.shape[0] / median, 2),
        peak_mem_mib=round(peak / 2**20, 1), gflops_per_s=round(achieved, 1),
        matmul_peak_gflops_per_s=round(peak_gflops, 1),
        ratio_to_peak=round(achieved / peak_gflops, 3))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f'{k}: {v}')


if __name__ == '__main__':
    main()
