"""Where the memory of a forward+backward goes: the tensors autograd saves
for backward, by op and by module.

During the forward, ``torch.autograd.graph.saved_tensors_hooks`` record each
tensor autograd saves: its storage and the innermost named module running
when it was saved (forward pre/post hooks keep a module stack). The graph
is then walked from the loss, reading each node's saved tensors, which
names the op (``grad_fn`` type) that saved them. Every storage counts once
(views, and tensors saved by several ops, share one), for the first op that
saved it; storages that existed before the step (weights, buffers, the
input) are left out, as in the measured peak.

The allocator gives the totals to compare with: bytes live after the
forward and the peak of the forward+backward, above what was held before,
from the CPU profiler's allocation events (``profile_memory=True``) or
CUDA's allocator statistics. Saved tensors are what is live after the
forward, but for the loss and what a model keeps for itself (outputs not
saved are freed once the loss is computed, and the inputs that
``torch.utils.checkpoint`` keeps in its own frame are not seen by the
hooks); the peak adds the weight gradients and backward's temporaries.
"""
import os
import re
from collections import defaultdict
from typing import Callable, Dict, List, Optional

import torch
import torch.nn as nn
from torch import Tensor

from .analysis import make_step, sum_outputs
from .memory import peak_memory

MIB = 2**20


class _Saved:
    """What the graph holds instead of a saved tensor: the tensor and the
    index of its pack event (freed with the graph node, like the tensor)."""
    __slots__ = ('tensor', 'index')

    def __init__(self, tensor: Tensor, index: int) -> None:
        self.tensor = tensor
        self.index = index


def fold_indices(name: str) -> str:
    """``'stages.1.3.attn'`` -> ``'stages.*.*.attn'``: repeated blocks and
    stages fold into one row."""
    return re.sub(r'(?<![^.])\d+(?![^.])', '*', name)


def _storage(t: Tensor):
    """(data pointer, bytes) of ``t``'s storage; (None, 0) where it has
    none (sparse, nested)."""
    try:
        s = t.untyped_storage()
        return (t.device.type, s.data_ptr()), s.nbytes()
    except (RuntimeError, NotImplementedError):
        return None, 0


class _AllocationTrace:
    """Bytes the allocator holds above the start, after the forward and at
    the peak. CPU: the profiler's allocation events; CUDA: the allocator
    statistics."""

    MARK = 'mmhybrid::forward'

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith('cuda')
        self.prof = None

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            from torch.profiler import ProfilerActivity, profile

            # kineto logs an ERROR line on machines without a GPU
            os.environ.setdefault('KINETO_LOG_LEVEL', '5')
            self.prof = profile(activities=[ProfilerActivity.CPU],
                                profile_memory=True)
            self.prof.__enter__()
        return self

    def forward(self):
        """A context around the forward."""
        return torch.profiler.record_function(self.MARK)

    def forward_done(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.after_forward = torch.cuda.memory_allocated() - self.base

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
            return
        self.prof.__exit__(*exc)
        if exc[0] is not None:
            return
        events = self.prof.profiler.kineto_results.events()
        end = max(e.end_ns() for e in events if e.name() == self.MARK)
        live = peak = 0
        self.after_forward = None
        allocations = [e for e in events if e.name() == '[memory]'
                       and e.device_type().name == 'CPU']
        for e in sorted(allocations, key=lambda e: e.start_ns()):
            if self.after_forward is None and e.start_ns() > end:
                self.after_forward = live
            live += e.nbytes()
            peak = max(peak, live)
        self.peak = peak
        if self.after_forward is None:
            self.after_forward = live


def memory_breakdown(model: nn.Module, x: Tensor,
                     amp: bool = False) -> Dict:
    """Saved tensors of one forward+backward of ``model`` on ``x`` (train
    mode), by op and by module, with the allocator's totals.

    Returns:
        dict: ``saved_bytes`` and ``saved_storages`` (counted once per
        storage), ``live_after_forward_bytes`` and ``peak_allocated_bytes``
        (allocator, above the start), ``weights_saved_bytes`` (storages
        saved that existed before: not counted), ``by_op`` (``op``,
        ``bytes``, ``storages``) and ``by_module`` (``module`` with block
        indices folded, ``type``, ``bytes``, ``storages``, ``instances``),
        largest first.
    """
    device = x.device.type
    names = {m: name for name, m in model.named_modules()}
    before = {_storage(t)[0] for t in [x, *model.parameters(),
                                       *model.buffers()]}
    stack: List[nn.Module] = []
    records = []  # per pack event: (storage key, bytes, module)
    owner: Dict[int, str] = {}  # pack event -> op that saved it
    reading: List[Optional[str]] = [None]

    def pack(t: Tensor) -> _Saved:
        key, nbytes = _storage(t)
        records.append((key, nbytes, stack[-1] if stack else model))
        return _Saved(t, len(records) - 1)

    def unpack(saved: _Saved) -> Tensor:
        if reading[0] is not None:
            owner.setdefault(saved.index, reading[0])
        return saved.tensor

    def enter(module: nn.Module, args) -> None:
        stack.append(module)

    def leave(module: nn.Module, args, out) -> None:
        stack.pop()

    handles = []
    for m in names:
        handles.append(m.register_forward_pre_hook(enter))
        handles.append(m.register_forward_hook(leave, always_call=True))
    model.train()
    try:
        with _AllocationTrace(device) as trace:
            with trace.forward(), torch.autograd.graph.saved_tensors_hooks(
                    pack, unpack), torch.autocast(
                        device,
                        dtype=torch.float16
                        if device == 'cuda' else torch.bfloat16,
                        enabled=amp):
                loss = sum_outputs(model(x))
            trace.forward_done()
            _walk(loss.grad_fn, reading)
            loss.backward()
            del loss
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)

    first: Dict = {}  # storage -> its first pack event read from the graph
    weights = {}
    for index in sorted(owner):
        key, nbytes, _ = records[index]
        if key is None or not nbytes:
            continue
        if key in before:
            weights[key] = nbytes
        else:
            first.setdefault(key, index)
    by_op = defaultdict(lambda: [0, 0])
    by_module = defaultdict(lambda: [0, 0, set()])
    for key, index in first.items():
        _, nbytes, module = records[index]
        op = by_op[owner[index]]
        op[0] += nbytes
        op[1] += 1
        row = by_module[fold_indices(names.get(module, '')),
                        type(module).__name__]
        row[0] += nbytes
        row[1] += 1
        row[2].add(module)
    saved = sum(records[i][1] for i in first.values())
    return dict(
        saved_bytes=saved, saved_storages=len(first),
        live_after_forward_bytes=trace.after_forward,
        peak_allocated_bytes=trace.peak,
        weights_saved_bytes=sum(weights.values()),
        by_op=[dict(op=k, bytes=v[0], storages=v[1]) for k, v in sorted(
            by_op.items(), key=lambda kv: -kv[1][0])],
        by_module=[dict(module=k[0] or '(top level)', type=k[1], bytes=v[0],
                        storages=v[1], instances=len(v[2]))
                   for k, v in sorted(by_module.items(),
                                      key=lambda kv: -kv[1][0])])


def measure_breakdown(model: nn.Module, x: Tensor, device: str = 'cpu',
                      amp: bool = False) -> Dict:
    """:func:`memory_breakdown` of ``model`` on ``x``, with
    ``measured_peak_bytes``: :func:`~mmhybrid.utils.memory.peak_memory` of
    a first forward+backward (what ``benchmark.py`` reports as the peak)."""
    model.to(device)
    x = x.to(device)
    peak = peak_memory(make_step(model, x, 'fwd-bwd', amp), device)
    return dict(measured_peak_bytes=peak, **memory_breakdown(model, x, amp))


def _walk(root, reading: List[Optional[str]]) -> None:
    """Read the saved tensors of every node of the graph under ``root``;
    the unpack hook notes ``reading[0]``, the node's type, for each."""
    attrs: Dict[type, List[str]] = {}
    seen = set()
    todo = [root]
    try:
        while todo:
            node = todo.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            cls = type(node)
            if cls not in attrs:
                attrs[cls] = [a for a in dir(node) if a.startswith('_saved_')
                              or a == 'saved_tensors']
            reading[0] = cls.__name__
            for a in attrs[cls]:
                try:
                    getattr(node, a)
                except RuntimeError:  # freed, or not a tensor
                    pass
            todo.extend(fn for fn, _ in node.next_functions)
    finally:
        reading[0] = None


def breakdown_tables(result: Dict, top: int = 10) -> str:
    """The ``by_op`` and ``by_module`` rows of ``result`` as two markdown
    tables (the ``top`` largest rows, then the rest in one)."""

    def table(rows: List[Dict], head: List[str],
              cells: Callable[[Dict], List[str]]) -> List[str]:
        total = result['saved_bytes'] or 1
        out = ['| ' + ' | '.join(head + ['MiB', 'share']) + ' |',
               '|---' * (len(head) + 2) + '|']
        shown = rows[:top]
        rest = rows[top:]
        for r in shown:
            out.append('| ' + ' | '.join(cells(r) + [
                f'{r["bytes"] / MIB:.1f}',
                f'{100 * r["bytes"] / total:.1f}%']) + ' |')
        if rest:
            b = sum(r['bytes'] for r in rest)
            out.append('| ' + ' | '.join(
                [f'{len(rest)} more'] + [''] * (len(head) - 1) +
                [f'{b / MIB:.1f}', f'{100 * b / total:.1f}%']) + ' |')
        return out

    lines = table(result['by_op'], ['op (grad_fn)', 'tensors'],
                  lambda r: [f'`{r["op"]}`', str(r['storages'])])
    lines.append('')
    lines += table(result['by_module'], ['module', 'type', 'instances',
                                         'tensors'],
                   lambda r: [f'`{r["module"]}`', r['type'],
                              str(r['instances']), str(r['storages'])])
    return '\n'.join(lines) + '\n'
