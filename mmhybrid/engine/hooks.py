"""Hooks the tools swap in for mmengine's where those misbehave."""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import LoggerHook

from mmhybrid.registry import HOOKS


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """mmengine's :class:`LoggerHook` with the test metrics written once.

    mmengine 0.10.7 dumps the test metrics JSON from every rank into the same
    file (``after_test_epoch`` has no main-process check). Concurrent writes
    of lines of slightly different length leave a corrupted file now and
    then (seen: a trailing ``3}`` in one of 10 two-process ``dist_test.sh``
    runs), which is what made the 1-vs-2-process test flaky. Here only rank
    0 logs and writes it; the metrics are the same on every rank.
    ``tools/test.py`` uses this hook for distributed runs.
    """

    def after_test_epoch(self, runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if is_main_process():
            super().after_test_epoch(runner, metrics)
