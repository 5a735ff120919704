"""The zoo's memory breakdown: where each model's forward+backward memory
goes (:mod:`mmhybrid.utils.memory_breakdown`), each model in a fresh
process, as one markdown document (a summary table, then each model's
tables by op and by module)."""
import re
from typing import Dict, List, Sequence, Tuple

from ..analysis import build_target
from ..memory_breakdown import MIB, breakdown_tables, measure_breakdown
from .models import ZooModel, size_label
from .probe import MemoryProbe


def run_breakdowns(models: List[ZooModel], sizes: Sequence[Tuple[int, int]],
                   device: str, threads: int,
                   timeout: float = 900.) -> Dict[str, Dict]:
    """``{model name: {size label: breakdown, or the reason it failed}}``,
    one model at a time (each needs a few GiB at detection size)."""
    probe = MemoryProbe(device, threads, {m.scope for m in models}, timeout,
                        job=measure_breakdown)
    results = {}
    for m in models:
        module = build_target(m.type, None, 0, m.kwargs)[0] \
            if device.startswith('cuda') else None
        for hw in sizes:
            status, value = probe(m, module, (1, 3, *hw))
            results.setdefault(m.name, {})[size_label(hw)] = \
                value if status == 'ok' else f'{status}: {value}'
            print(f'{m.name} {size_label(hw)}: '
                  + (f'{value["saved_bytes"] / MIB:.0f} MiB saved'
                     if status == 'ok' else status), flush=True)
        del module
    return results


def _short(op: str) -> str:
    """``'ConvolutionBackward0'`` -> ``'Convolution'``."""
    return re.sub(r'Backward\d*$', '', op)


def _top(rows: List[Dict], key: str, total: int, n: int = 3) -> str:
    return ', '.join(f'`{_short(r[key])}` {100 * r["bytes"] / total:.0f}%'
                     for r in rows[:n])


def breakdown_markdown(results: Dict[str, Dict], models: List[ZooModel],
                       machine: str, date: str, command: str,
                       top: int = 8) -> str:
    """The document: how it was made, a summary row per (model, size), then
    per model the ``top`` largest ops and modules."""
    out = ['# Where the memory of a forward+backward goes', '',
           f'Every model of the zoo, batch 1, backbone only, one fresh '
           f'process per model: {machine}; {date}. Regenerate with:', '',
           '```bash', command, '```', '',
           'Columns: the measured peak of a first forward+backward (as '
           '`benchmark.py` and the zoo report it: CPU resident-set rise, '
           'allocator slack included; GPU `max_memory_allocated`); the '
           'allocator\'s bytes at the peak of a second one and live after '
           'its forward; the tensors that forward saved for backward, each '
           'storage counted once and weights and input left out; their '
           'share of what is live after the forward; the largest ops '
           '(`grad_fn` type) and modules (block indices folded to `*`) by '
           'saved bytes. MiB throughout.', '',
           '| model | input | measured peak | allocated peak | live after '
           'forward | saved | saved / live | largest ops | largest modules '
           '|', '|---' * 9 + '|']
    for m in models:
        for size, r in results.get(m.name, {}).items():
            if isinstance(r, str):
                out.append(f'| {m.name} | {size} | **{r}** |' + ' |' * 6)
                continue
            saved = r['saved_bytes'] or 1
            live = r['live_after_forward_bytes'] or 1
            out.append(
                f'| {m.name} | {size} | {r["measured_peak_bytes"] / MIB:.0f} '
                f'| {r["peak_allocated_bytes"] / MIB:.0f} | {live / MIB:.0f} '
                f'| {r["saved_bytes"] / MIB:.0f} | {saved / live:.2f} | '
                f'{_top(r["by_op"], "op", saved)} | '
                f'{_top(r["by_module"], "module", saved)} |')
    for m in models:
        for size, r in results.get(m.name, {}).items():
            if isinstance(r, str):
                continue
            out += ['', f'## {m.name}, 1x3x{size}', '',
                    f'`{m.type}({m.kwargs})`: {r["saved_bytes"] / MIB:.0f} '
                    f'MiB saved in {r["saved_storages"]} tensors '
                    f'({r["weights_saved_bytes"] / MIB:.0f} MiB of weights '
                    'and input saved too, not counted).', '',
                    breakdown_tables(r, top).rstrip()]
    return '\n'.join(out) + '\n'
