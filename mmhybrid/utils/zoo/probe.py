"""Memory measurements, each in a fresh process.

On CPU a process's resident set only shows the peak of the first large run
reliably, and a model that runs out of memory takes the whole process down:
so each measurement runs in a fresh child, forked from a forkserver that has
only imported the libraries (a child costs a model build, not a Python
start), and is killed after a timeout. A child that dies (out of memory) or
raises gives a status, not a crash. On GPU the measurement runs in this
process.
"""
import multiprocessing as mp
import time
from typing import Callable, Dict, Sequence, Tuple

import torch

from ..analysis import build_target, make_step
from ..memory import peak_memory
from .models import ZooModel


def peak_fwd_bwd(model: torch.nn.Module, x: torch.Tensor,
                 device: str) -> int:
    """The default job: :func:`peak_memory` of one forward+backward."""
    return peak_memory(make_step(model, x, 'fwd-bwd'), device)


def memory_child(conn, target: str, kwargs: Dict, shape: Tuple[int, ...],
                 threads: int, job: Callable = peak_fwd_bwd) -> None:
    """Run in a fresh child process: build backbone ``target`` with
    ``kwargs``, run ``job(model, x, 'cpu')`` on a random ``shape`` batch and
    send ``('ok', result, seconds)`` (or ``('error', message, 0.)``)
    through ``conn``."""
    try:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model, _ = build_target(target, None, 0, kwargs)
        x = torch.rand(*shape)
        t0 = time.perf_counter()
        result = job(model, x, 'cpu')
        conn.send(('ok', result, time.perf_counter() - t0))
    except BaseException as e:  # report, never leave the parent waiting
        conn.send(('error', f'{type(e).__name__}: {e}'.splitlines()[0][:200],
                   0.))
    finally:
        conn.close()


class MemoryProbe:
    """One measurement per (model, shape): ``job(module, x, device)``, by
    default the peak memory of one forward+backward.

    CPU: a fresh child per measurement, forked from a forkserver that has
    only imported the libraries (so a child costs a model build, not a
    Python start), killed after ``timeout`` seconds. GPU: in this process.
    ``job`` must be a module-level function (the children import it).
    """

    def __init__(self, device: str, threads: int, scopes: Sequence[str],
                 timeout: float = 900., job: Callable = peak_fwd_bwd) -> None:
        self.device = device
        self.threads = threads
        self.timeout = timeout
        self.job = job
        self.ctx = None
        if not device.startswith('cuda'):
            method = 'forkserver' if 'forkserver' in \
                mp.get_all_start_methods() else 'spawn'
            self.ctx = mp.get_context(method)
            if method == 'forkserver':
                preload = ['torch', 'mmhybrid', __name__]
                preload += [job.__module__] if job.__module__ != __name__ \
                    else []
                preload += [f'{s}.models' for s in scopes if s != 'mmhybrid']
                self.ctx.set_forkserver_preload(preload)

    def __call__(self, model: ZooModel, module: torch.nn.Module,
                 shape: Sequence[int]) -> Tuple[str, object]:
        """('ok', result) or ('OOM' | 'error' | 'timeout', message)."""
        if self.ctx is None:
            x = torch.rand(*shape, device=self.device)
            try:
                return 'ok', self.job(module, x, self.device)
            except torch.cuda.OutOfMemoryError:
                return 'OOM', 'CUDA out of memory'
            except Exception as e:
                return 'error', f'{type(e).__name__}: {e}'.splitlines()[0]
            finally:
                module.zero_grad(set_to_none=True)
                del x
                torch.cuda.empty_cache()
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=memory_child,
                                args=(send, model.type, model.kwargs,
                                      tuple(shape), self.threads, self.job))
        proc.start()
        send.close()
        result = None
        if recv.poll(self.timeout):
            try:
                result = recv.recv()
            except EOFError:  # died before sending (killed)
                pass
        proc.join(5 if result is not None else 0.1)
        if proc.is_alive():
            proc.kill()
            proc.join()
            if result is None:
                return 'timeout', f'no result in {self.timeout:.0f} s'
        if result is None:
            code = proc.exitcode
            if code is not None and code < 0:
                return 'OOM', (f'child killed by signal {-code} (likely '
                               'out of memory)')
            return 'error', f'child exited with code {code}'
        status, value, _ = result
        if status == 'ok':
            return 'ok', value
        oom = 'out of memory' in value.lower() or 'MemoryError' in value
        return ('OOM' if oom else 'error'), value
