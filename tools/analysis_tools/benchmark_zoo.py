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
    # where each model's memory goes at 800x1216 (docs/memory_breakdown.md):
    python tools/analysis_tools/benchmark_zoo.py --memory-breakdown

Models: every backbone registered in ``mmhybrid.registry.MODELS`` (a
:class:`BaseBackbone` subclass), at its T/S-scale variants, plus mmdet's
ResNet-50, Swin-T/S and mmpretrain's ConvNeXt-T/S. A backbone names its zoo
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

``--memory-breakdown`` replaces all of that: for each model, in a fresh
process, one at a time, where the memory of a forward+backward at
``--sizes`` (default 800x1216) goes: the tensors saved for backward by op
and by module, next to the measured and allocated peaks
(``memory_breakdown.md`` and ``memory_breakdown.json`` in ``--out-dir``).
"""
import argparse
import datetime
import json
import os
import os.path as osp
import shlex
import sys

import torch

from mmhybrid.utils.timing import add_device_arguments
from mmhybrid.utils.zoo import (BATCH_224, breakdown_markdown, discover,
                                load_spec, load_top1, machine_description,
                                markdown_section, parse_size, plot,
                                run_breakdowns, run_zoo, select, size_label,
                                summarise, to_json, update_readme, write_csv)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_TOP1 = osp.join(ROOT, 'docs', 'zoo_top1.csv')
DEFAULT_SIZES = ['512', '800x1216', '1024']
QUICK_SIZES = ['512']
BREAKDOWN_SIZES = ['800x1216']


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
    parser.add_argument('--memory-breakdown', action='store_true',
                        help='instead of the zoo run: where each model\'s '
                        'forward+backward memory goes (saved tensors by op '
                        'and module) at --sizes (default '
                        f'{" ".join(BREAKDOWN_SIZES)}), to '
                        'memory_breakdown.md')
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
    default_sizes = BREAKDOWN_SIZES if args.memory_breakdown else \
        QUICK_SIZES if args.quick else DEFAULT_SIZES
    sizes = args.sizes if args.sizes is not None else [
        parse_size(s) for s in default_sizes]
    repeats = args.repeats or (1 if args.quick else 3)
    if args.list:
        for m in models:
            print(f'{m.name:28s} {m.type}({m.kwargs})')
        print(f'sizes: {[size_label(s) for s in sizes]}, repeats: '
              f'{repeats}, warm-up: {args.warmup}, device: {args.device}, '
              f'threads: {threads}')
        return
    command = 'python tools/analysis_tools/benchmark_zoo.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    if args.memory_breakdown:
        return write_breakdowns(models, sizes, args, threads, command)
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
    raw['command'] = command
    rows = summarise(raw, top1)
    os.makedirs(args.out_dir, exist_ok=True)
    write_csv(rows, osp.join(args.out_dir, 'zoo.csv'))
    with open(osp.join(args.out_dir, 'zoo.json'), 'w') as f:
        json.dump(to_json(raw, rows), f, indent=1, default=str)
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


def write_breakdowns(models, sizes, args, threads: int, command: str) -> None:
    """``--memory-breakdown``: memory_breakdown.md and .json."""
    results = run_breakdowns(models, sizes, args.device, threads,
                             args.mem_timeout)
    date = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M UTC')
    os.makedirs(args.out_dir, exist_ok=True)
    with open(osp.join(args.out_dir, 'memory_breakdown.json'), 'w') as f:
        json.dump(dict(command=command, date=date, results=results), f,
                  indent=1)
    with open(osp.join(args.out_dir, 'memory_breakdown.md'), 'w') as f:
        f.write(breakdown_markdown(
            results, models, machine_description(args.device, threads),
            date, command.strip()))
    print(f'wrote memory_breakdown.md, memory_breakdown.json to '
          f'{args.out_dir}', file=sys.stderr)


if __name__ == '__main__':
    main()
