"""Peak memory of one step (a forward, or a forward+backward), above what
was held before it.

CUDA: ``max_memory_allocated`` minus ``memory_allocated`` before. CPU: freed
heap pages are returned to the OS (glibc's ``malloc_trim``) and the resident
set's high-water mark is reset (``/proc/self/clear_refs``) first, then the
rise of ``VmHWM`` over ``VmRSS`` before the step; this includes allocator
slack, like what ``top`` shows.
"""
import ctypes
import gc
from typing import Callable

import torch

from .procfs import reset_peak_rss, vm_kib


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc's
    ``malloc_trim``), so that the resident set reflects live memory."""
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_memory(step: Callable[[], None], device: str = 'cpu') -> int:
    """Peak memory of one call of ``step`` above what was held before it,
    in bytes (activations, gradients, workspaces; not the weights or the
    input).

    Without ``clear_refs`` the CPU high-water mark cannot be reset, and the
    result is only meaningful in a fresh process whose earlier peak was
    lower.
    """
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    release_memory()
    reset_peak_rss()
    base = vm_kib('VmRSS')
    step()
    return max(vm_kib('VmHWM') - base, 0) * 1024
