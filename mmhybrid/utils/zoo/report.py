"""The zoo's text outputs: one flat row per model (the CSV's columns), the
markdown section (tables, plots, command, machine, method), the JSON of
every sample, and the rewrite of a README's part between ``<!-- zoo:begin
-->`` and ``<!-- zoo:end -->``."""
import csv
import json
import math
import os
import os.path as osp
import platform
import statistics
from typing import Dict, List, Optional, Tuple

import torch

from ..flops import FWD_BWD_FACTOR
from ..procfs import cpu_model
from .models import parse_size, size_label


def load_top1(path: str) -> Dict[str, Tuple[str, str]]:
    """``{model name: (top-1, source)}`` from the published-accuracy CSV."""
    if not path or not osp.exists(path):
        return {}
    with open(path, newline='') as f:
        return {row['model']: (row['top1'].strip(), row['source'].strip())
                for row in csv.DictReader(
                    line for line in f if not line.startswith('#'))}


def machine_description(device: str, threads: int) -> str:
    if device.startswith('cuda'):
        what = torch.cuda.get_device_name(device)
    else:
        what = cpu_model() or platform.processor() or platform.machine()
        cores = len(os.sched_getaffinity(0)) if hasattr(
            os, 'sched_getaffinity') else os.cpu_count()
        what += (f', {cores} cores available, {threads} torch '
                 f'thread{"s" if threads != 1 else ""}')
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


def to_json(raw: Dict, rows: List[Dict]) -> Dict:
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
