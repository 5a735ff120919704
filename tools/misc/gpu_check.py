"""Check a GPU machine end to end, in one command, and write a report.

    python tools/misc/gpu_check.py                    # on a GPU machine
    python tools/misc/gpu_check.py --device cpu --quick  # the test suite

Checks, in order (each a section of the markdown report):

1. mmcv's ops: compiled for torch's CUDA release; ``nms`` and ``RoIAlign`` on
   the device agree with the CPU.
2. Every registered backbone at T/S scale (``mmhybrid.utils.zoo``'s
   discovery) next to mmdet's ResNet-50 and Swin-T and mmpretrain's
   ConvNeXt-T: forward+backward of 1x3x800x1216, float32 and AMP (fp16
   autocast on CUDA, bf16 on CPU), median time and peak memory
   (``torch.cuda.max_memory_allocated`` above the weights and input); the
   AMP step also runs once with SDPA's math kernel switched off (a model
   whose attention falls back to it is marked); outputs and gradients
   must be finite.
3. Parity: each backbone's float32 outputs (eval mode) on the device
   against the CPU, TF32 off, at 1x3x256x384; SG-Former's SG blocks get the
   CPU's significance maps (rounding reorders near ties of its ranking).
4. Each quickstart config (``--quickstart``) trained for 20 iterations
   with ``--amp`` on toy data (on CPU, Mask R-CNN without it: mmcv's CPU
   nms has no bf16 kernel), then ``tools/dist_test.sh`` on 1 process with
   the Semantic FPN checkpoint.

``--quick``: 1 timed run and no warm-up besides the finiteness step, 64x64
inputs, the first variant of each model, 2 training iterations on fewer toy
images (the test suite runs ``--device cpu --quick --quickstart
semantic_fpn``: on CPU the Mask R-CNN run is the README's). Exit status 1
if any check failed. The report goes to ``--out`` (default
``work_dirs/gpu_check/report.md``) and to stdout.
"""
import argparse
import datetime
import math
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
QUICKSTART = {
    'mask_rcnn': ('configs/quickstart/mask_rcnn_hornet_toy.py', 'coco'),
    'semantic_fpn': ('configs/quickstart/semantic_fpn_hornet_toy.py', 'ade'),
}
#: float32 device vs CPU tolerance, max |d| / max |cpu| per output
PARITY_TOL = 1e-3


def progress(text: str) -> None:
    print(f'[gpu_check] {text}', file=sys.stderr, flush=True)


def md_table(header: List[str], rows: List[List]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


class Report:
    """Markdown sections and the failed checks."""

    def __init__(self) -> None:
        self.parts: List[str] = []
        self.failed: List[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        print(text, flush=True)

    def check(self, ok: bool, what: str) -> str:
        if not ok:
            self.failed.append(what)
        return 'ok' if ok else '**FAIL**'


# ---------------------------------------------------------------- mmcv ----
def check_mmcv(device: str, report: Report) -> None:
    try:
        from mmcv.ops import RoIAlign, get_compiling_cuda_version, nms
    except Exception as e:  # no ops at all
        report.add(f'## mmcv ops\n\n{report.check(False, "mmcv ops")}: '
                   f'`import mmcv.ops` failed: {e}\n')
        return
    built = get_compiling_cuda_version()
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    feats = torch.arange(2 * 3 * 16 * 16.).view(2, 3, 16, 16)
    rois = torch.tensor([[0., 1., 1., 9., 9.], [1., 2.5, 0., 15., 7.5]])
    op = RoIAlign((4, 4), spatial_scale=1., sampling_ratio=2, aligned=True)
    rows = []
    try:
        ref = (nms(boxes, scores, 0.5)[1], op(feats, rois))
        out = (nms(boxes.to(device), scores.to(device), 0.5)[1].cpu(),
               op(feats.to(device), rois.to(device)).cpu())
        same = torch.equal(out[0], ref[0]) and torch.allclose(
            out[1], ref[1], atol=1e-3)
        rows.append(['nms + RoIAlign', device, report.check(same, 'mmcv ops'),
                     'equal to CPU' if same else f'{out} vs {ref}'])
    except Exception as e:
        rows.append(['nms + RoIAlign', device, report.check(False, 'mmcv ops'),
                     f'{type(e).__name__}: {str(e)[:200]}'])
    if device.startswith('cuda'):
        rows.append(['compiled CUDA', built,
                     report.check(built == torch.version.cuda,
                                  'mmcv CUDA version'),
                     f'torch: CUDA {torch.version.cuda}'])
    report.add('## mmcv ops\n\n' + md_table(
        ['check', 'where', 'result', 'detail'], rows) + '\n')


# ----------------------------------------------------------- backbones ----
def finite_step(model, x, amp: bool, math_allowed: bool = True) -> None:
    """One forward+backward; raises unless outputs and gradients are
    finite (and, with ``math_allowed=False``, if SDPA needs its math
    kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from mmhybrid.utils.analysis import sum_outputs
    backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                SDPBackend.CUDNN_ATTENTION]
    if math_allowed or x.device.type == 'cpu':
        backends.append(SDPBackend.MATH)
    dtype = torch.float16 if x.device.type == 'cuda' else torch.bfloat16
    model.train()
    with sdpa_kernel(backends), torch.autocast(x.device.type, dtype=dtype,
                                               enabled=amp):
        out = model(x)
        loss = sum_outputs(out)
    if not torch.isfinite(loss):
        raise FloatingPointError('non-finite outputs')
    loss.backward()
    for name, p in model.named_parameters():
        if p.grad is not None and not torch.isfinite(p.grad).all():
            raise FloatingPointError(f'non-finite gradient of {name}')
    model.zero_grad(set_to_none=True)


def measure(model, x, amp: bool, runs: int,
            warmup: bool = True) -> Tuple[float, int]:
    from mmhybrid.utils.analysis import make_step
    from mmhybrid.utils.memory import peak_memory
    from mmhybrid.utils.timing import time_step
    step = make_step(model, x, 'fwd-bwd', amp=amp)
    if warmup:
        step()  # cudnn autotuning, allocator
    times = [time_step(step, x.device.type) for _ in range(runs)]
    mem = peak_memory(step, x.device.type) \
        if x.device.type == 'cuda' else None
    return statistics.median(times), mem


def check_backbones(models, device: str, size: Tuple[int, int],
                    runs: int, report: Report, warmup: bool = True) -> None:
    rows = []
    for m in models:
        progress(f'{m.name}: fp32 and AMP steps')
        row = [m.name]
        try:
            torch.manual_seed(0)
            model = m.build().to(device)
            x = torch.rand(1, 3, *size, device=device)
            for amp in (False, True):
                finite_step(model, x, amp)
                t, mem = measure(model, x, amp, runs, warmup)
                row += [f'{t * 1000:.0f}',
                        '' if mem is None else f'{mem / 2**20:.0f}']
            fused = 'n/a (CPU)'
            if device.startswith('cuda'):
                fused = 'yes'
                try:
                    finite_step(model, x, True, math_allowed=False)
                except RuntimeError as e:
                    if 'No available kernel' not in str(e):
                        raise
                    fused = report.check(False, f'{m.name}: SDPA math')
            row += [fused, report.check(True, m.name)]
            del model, x
        except Exception as e:
            row += [''] * (6 - len(row) + 1)
            row[-1] = report.check(False, m.name) + \
                f' {type(e).__name__}: {str(e)[:120]}'
        if device.startswith('cuda'):
            torch.cuda.empty_cache()
        rows.append(row)
    h, w = size
    report.add(
        f'## Backbones: forward+backward of 1x3x{h}x{w}\n\n'
        f'Median of {runs} timed runs'
        f'{" after one warm-up" if warmup else ""}; memory: peak '
        '`torch.cuda.max_memory_allocated` above the weights and input '
        f'(CUDA only). AMP: {"fp16" if device.startswith("cuda") else "bf16"}'
        ' autocast. "no SDPA math": the AMP step runs with SDPA\'s math '
        'kernel switched off (CUDA only).\n\n' + md_table(
            ['model', 'fp32 ms', 'fp32 MiB', 'AMP ms', 'AMP MiB',
             'no SDPA math', 'finite'], rows) + '\n')


def _sg_blocks(model) -> list:
    return [m for m in model.modules() if getattr(m, 'mode', None) == 'sg']


def check_parity(models, device: str, size: Tuple[int, int],
                 report: Report) -> None:
    from mmhybrid.utils.analysis import sum_outputs  # noqa: F401
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for m in models:
        progress(f'{m.name}: {device} vs CPU')
        try:
            torch.manual_seed(0)
            model = m.build().eval()
            x = torch.rand(1, 3, *size)
            sig: Dict = {}
            hooks = [b.register_forward_pre_hook(
                lambda mod, args: sig.__setitem__(mod, args[2]))
                for b in _sg_blocks(model)]
            with torch.no_grad():
                ref = _outputs(model(x))
            for h in hooks:
                h.remove()
            model.to(device)
            hooks = [b.register_forward_pre_hook(
                lambda mod, args: args[:2] + (sig[mod].to(device), ))
                for b in _sg_blocks(model)]
            with torch.no_grad():
                out = [o.cpu() for o in _outputs(model(x.to(device)))]
            for h in hooks:
                h.remove()
            err = max(((o - r).abs().max() / r.abs().max()).item()
                      for o, r in zip(out, ref))
            rows.append([m.name, f'{err:.1e}',
                         report.check(err <= PARITY_TOL, f'{m.name} parity')])
            del model
        except Exception as e:
            rows.append([m.name, '', report.check(False, f'{m.name} parity')
                         + f' {type(e).__name__}: {str(e)[:120]}'])
    h, w = size
    report.add(
        f'## Parity: {device} vs CPU, float32, eval, 1x3x{h}x{w}\n\n'
        'max |device - CPU| / max |CPU| over the outputs, TF32 off; '
        f'tolerance {PARITY_TOL:g}.\n\n'
        + md_table(['model', 'max rel. diff', 'result'], rows) + '\n')


def _outputs(out) -> List[torch.Tensor]:
    out = out if isinstance(out, (list, tuple)) else [out]
    return [o.float() for o in out]


# --------------------------------------------------------------- tools ----
def run_tool(args: List[str], env: Dict, log_path: str) -> Tuple[int, str,
                                                                 float]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True,
                          text=True)
    log = proc.stdout + proc.stderr
    with open(log_path, 'w') as f:
        f.write(log)
    return proc.returncode, log, time.perf_counter() - t0


def last(pattern: str, text: str) -> str:
    found = re.findall(pattern, text)
    return found[-1] if found else ''


def check_tools(device: str, quick: bool, work_dir: str,
                report: Report, quickstart: List[str]) -> None:
    from mmhybrid.utils.toy_data import make_coco, make_ade
    iters = 2 if quick else 20
    data = osp.join(work_dir, 'data')
    # the Mask R-CNN quickstart is epoch-based (batch 4): one epoch of
    # `iters` iterations
    roots = {'coco': osp.join(data, 'toy_coco'),
             'ade': osp.join(data, 'toy_ade')}
    needed = {QUICKSTART[name][1] for name in quickstart}
    if 'coco' in needed and not osp.exists(roots['coco']):
        make_coco(roots['coco'], num_train=4 * iters, num_val=4 if quick
                  else 16)
    if 'ade' in needed and not osp.exists(roots['ade']):
        make_ade(roots['ade'], num_train=8 if quick else 16,
                 num_val=2 if quick else 16)
    env = {**os.environ, 'PYTHONPATH': ROOT + os.pathsep +
           os.environ.get('PYTHONPATH', ''), 'PYTHON': sys.executable}
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    overrides = {
        'mask_rcnn': ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                      'default_hooks.checkpoint.interval=1'],
        'semantic_fpn': [f'train_cfg.max_iters={iters}',
                         f'train_cfg.val_interval={iters}',
                         f'default_hooks.checkpoint.interval={iters}'],
    }
    rows, ckpt = [], None
    for name in quickstart:
        config, data_key = QUICKSTART[name]
        progress(f'training {config} --amp')
        wd = osp.join(work_dir, name)
        # mmcv's CPU nms has no bf16 kernel: on CPU, Mask R-CNN trains
        # without --amp (RPN proposals go through nms in the autocast dtype)
        amp = [] if device == 'cpu' and name == 'mask_rcnn' else ['--amp']
        rc, log, secs = run_tool(
            [sys.executable, 'tools/train.py', config, *amp, '--work-dir',
             wd, '--data-root', roots[data_key], '--cfg-options',
             *overrides[name]], env, osp.join(work_dir, f'{name}.log'))
        done = f'[{iters}/{iters}]' in log or \
            f'Epoch(train) [1][{iters}/{iters}]' in log
        loss = last(r'\bloss: ([0-9.naif]+)', log)
        ok = rc == 0 and done and loss != '' and math.isfinite(float(loss))
        metric = last(r'(coco/bbox_mAP: -?[0-9.]+)', log) or \
            last(r'(mIoU: -?[0-9.]+)', log)
        mode = last(r'(AmpOptimWrapper|bfloat16 autocast on CPU)', log) \
            if amp else 'fp32 (CPU: mmcv\'s CPU nms takes no bf16)'
        rows.append([f'`{config}` {" ".join(amp)}, {iters} iterations',
                     f'{secs:.0f}', f'loss {loss}, {metric}, {mode}',
                     report.check(ok, f'{name} {" ".join(amp)}')])
        if name == 'semantic_fpn' and ok:
            ckpt = osp.join(wd, f'iter_{iters}.pth')
    if 'semantic_fpn' in quickstart:  # dist_test.sh evaluates its checkpoint
        rows.append(check_dist_test(QUICKSTART['semantic_fpn'][0], ckpt,
                                    roots['ade'], env, work_dir, report))
    report.add(f'## Tools on {device} (logs in `{work_dir}`)\n\n' + md_table(
        ['run', 'seconds', 'result', 'check'], rows) + '\n')


def check_dist_test(config: str, ckpt, data_root: str, env: Dict,
                    work_dir: str, report: Report) -> List:
    """``tools/dist_test.sh`` on 1 process with the trained checkpoint."""
    if ckpt is None:
        return ['`tools/dist_test.sh` (1 process)', '', 'no checkpoint',
                report.check(False, 'dist_test')]
    rc, log, secs = run_tool(
        ['bash', 'tools/dist_test.sh', config, ckpt, '1', '--work-dir',
         osp.join(work_dir, 'dist_test'), '--data-root', data_root],
        {**env, 'PORT': str(29500 + os.getpid() % 1000)},
        osp.join(work_dir, 'dist_test.log'))
    metric = last(r'(mIoU: -?[0-9.]+)', log)
    ok = rc == 0 and 'Distributed training: True' in log and bool(metric)
    return [f'`tools/dist_test.sh {config} ... 1`', f'{secs:.0f}', metric,
            report.check(ok, 'dist_test')]


# ---------------------------------------------------------------- main ----
def header(device: str, args) -> str:
    from mmhybrid.utils.collect_env import collect_env
    env = collect_env()
    command = ' '.join(['python', osp.relpath(sys.argv[0], ROOT)] +
                       sys.argv[1:])
    lines = [f'# mmhybrid GPU check ({"quick, " if args.quick else ""}'
             f'{device})', '',
             f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}'
             f' UTC, `{command}`, host {platform.node() or "?"}', '']
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(device)
        lines += [f'GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, '
                  f'sm_{props.major}{props.minor}', '']
    lines += ['| | |', '|---|---|']
    lines += [f'| {k} | {str(v).splitlines()[0][:100]} |'
              for k, v in env.items()]
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--quick', action='store_true',
                        help='tiny inputs, one variant per model, 2 '
                        'iterations')
    parser.add_argument('--models', nargs='+', metavar='GLOB',
                        help='only these zoo models (e.g. "HorNet*" Swin-T)')
    parser.add_argument('--skip', nargs='+', default=[],
                        choices=['mmcv', 'backbones', 'parity', 'tools'])
    parser.add_argument('--quickstart', nargs='+', default=list(QUICKSTART),
                        choices=list(QUICKSTART),
                        help='quickstart configs the tools check trains '
                        '(default: all; dist_test.sh follows semantic_fpn)')
    parser.add_argument('--runs', type=int, default=None,
                        help='timed runs per measurement (default 5, quick 1)')
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs',
                                                       'gpu_check'))
    parser.add_argument('--out', default=None,
                        help='report file (default WORK_DIR/report.md)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = args.device
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit('--device cuda: torch sees no GPU '
                         f'(torch {torch.__version__}, CUDA '
                         f'{torch.version.cuda}); use --device cpu')
    os.makedirs(args.work_dir, exist_ok=True)
    out = args.out or osp.join(args.work_dir, 'report.md')
    from mmhybrid.utils import zoo
    models = zoo.select(zoo.discover(), args.models)
    if args.quick:  # the first variant of each type
        models = [m for i, m in enumerate(models)
                  if m.type not in {n.type for n in models[:i]}]
    size = (64, 64) if args.quick else (800, 1216)
    parity_size = (64, 96) if args.quick else (256, 384)
    runs = args.runs or (1 if args.quick else 5)
    report = Report()
    report.add(header(device, args))
    t0 = time.perf_counter()
    if 'mmcv' not in args.skip:
        check_mmcv(device, report)
    if 'backbones' not in args.skip:
        check_backbones(models, device, size, runs, report,
                        warmup=not args.quick)
    if 'parity' not in args.skip:
        check_parity([m for m in models if not m.baseline], device,
                     parity_size, report)
    if 'tools' not in args.skip:
        check_tools(device, args.quick, args.work_dir, report,
                    args.quickstart)
    verdict = ('all checks passed' if not report.failed else
               f'{len(report.failed)} failed: ' + ', '.join(report.failed))
    report.add(f'**{verdict}** ({time.perf_counter() - t0:.0f} s)\n')
    with open(out, 'w') as f:
        f.write('\n'.join(report.parts))
    print(f'report: {out}')
    return 1 if report.failed else 0


if __name__ == '__main__':
    sys.exit(main())
