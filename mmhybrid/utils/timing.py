"""Where and how the tools time a step: ``--device`` / ``--threads``, the
wall time of one call, and the device's measured fp32 matmul peak.

The peak is in real FLOPs (an ``n x n`` matmul is ``2 n^3``), the unit in
which achieved throughput is compared with it (``2 * MACs / t``, see
:func:`mmhybrid.utils.flops.macs_to_flops`).
"""
import time
from typing import Callable

import torch

from .flops import macs_to_flops


def add_device_arguments(parser) -> None:
    """``--device`` (cuda when available) and ``--threads`` of the tools."""
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: torch default)')


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def time_step(step: Callable[[], None], device: str = 'cpu') -> float:
    """Wall time of one call of ``step``, in seconds."""
    _sync(device)
    t0 = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - t0


def matmul_peak_flops(device: str = 'cpu', n: int = 2048,
                      reps: int = 5) -> float:
    """Measured fp32 matmul throughput of this device in FLOP/s (an
    ``n x n`` matmul is ``2 n^3`` FLOPs: ``n^3`` multiply-accumulates)."""
    a = torch.rand(n, n, device=device)
    b = torch.rand(n, n, device=device)
    times = [time_step(lambda: a @ b, device) for _ in range(reps + 1)]
    return macs_to_flops(n**3) / min(times[1:])
