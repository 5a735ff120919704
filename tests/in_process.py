"""Run a ``tools/`` script in the test process, as ``python SCRIPT ARGS``
would run it.

A child process spends ~4 s of CPU importing torch, mmengine, mmdet, mmseg
and mmpretrain before the script's first line: over a quarter of the
suite's CPU time when each of its ~45 tool runs had its own process. Tests
of what a script *does* (its arguments, output, files and exit status) run
it here, through ``runpy`` with the script's own ``__main__`` block. Tests
of what a *process* does (a fresh interpreter's imports and registries,
``custom_imports`` of the stock mmdet/mmseg tools, launchers, the README's
commands, kills and resumes) keep their child processes, and so does
``--show-dir``, whose drawing depends on mmengine's global instances (run
here after another in-process run, it drew nothing).
"""
import contextlib
import io
import os
import runpy
import subprocess
import sys
import traceback
from typing import Optional

import torch
from mmengine.logging import MMLogger

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script: str, *args: str,
               cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    """Runs ``python SCRIPT ARGS`` in this process.

    ``sys.argv``, ``sys.path[0]`` and the working directory are the
    script's while it runs. Its output is captured: ``print``, and
    mmengine's logs (a logger made for the run is the current one, and the
    loggers the script makes, a Runner's included, write to the captured
    stdout). An uncaught exception or ``SystemExit`` becomes the exit
    status and stderr the interpreter would give. Afterwards the loggers
    made during the run are dropped (the earlier current logger is current
    again), and torch's thread count is restored (the analysis tools set
    it).

    Args:
        script (str): Path of the script, relative to the repository root.
        *args (str): Its command-line arguments.
        cwd (str, optional): Working directory. Defaults to the root.

    Returns:
        subprocess.CompletedProcess: ``returncode``, ``stdout``, ``stderr``.
    """
    path = os.path.join(ROOT, script)
    argv = [script, *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.path[0], os.getcwd(), torch.get_num_threads()
    loggers = set(MMLogger._instance_dict)
    code = 0
    try:
        sys.argv, sys.path[0] = argv, os.path.dirname(path)
        os.chdir(cwd or ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            MMLogger.get_instance(f'run_script:{script}')
            try:
                runpy.run_path(path, run_name='__main__')
            except SystemExit as e:
                if isinstance(e.code, int) or e.code is None:
                    code = e.code or 0
                else:  # sys.exit('message'): printed, status 1
                    print(e.code, file=sys.stderr)
                    code = 1
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        for name in set(MMLogger._instance_dict) - loggers:
            for handler in MMLogger._instance_dict.pop(name).handlers:
                handler.close()
        sys.argv, sys.path[0] = saved[0], saved[1]
        os.chdir(saved[2])
        torch.set_num_threads(saved[3])
    return subprocess.CompletedProcess(argv, code, out.getvalue(),
                                       err.getvalue())
