"""Hooks the tools add: one writer of the test metrics, and whole-model
checkpoint loading with a report and a floor."""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook, LoggerHook
from mmengine.model import BaseTTAModel, is_model_wrapper

from mmhybrid.models.utils.whole_model import (check_report,
                                               convert_model_checkpoint)
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


@HOOKS.register_module()
class CheckpointLoadHook(Hook):
    """Load whole-model checkpoints in official layouts, with a floor.

    Runs when the runner reads a checkpoint (``load_from``, ``--resume``,
    ``tools/test.py CONFIG CHECKPOINT``), before the weights go into the
    model: the checkpoint's weights are converted to the model's layout
    (official fine-tuned detectors / segmentors and official classifiers;
    see :func:`mmhybrid.models.utils.convert_model_checkpoint`), the log says
    ``loaded N/M tensors`` for the whole model with what is missing,
    unexpected or skipped, and the run stops with an error naming what did
    not load when less than ``min_match`` of the model's tensors would.

    ``tools/train.py`` and ``tools/test.py`` add it to every config; with
    the stock mmdet / mmseg / mmpretrain tools add it yourself:
    ``custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]``. Its
    priority is above mmengine's ``EMAHook``, which copies the converted
    weights.

    Args:
        min_match (float): Fraction of the model's tensors that must load.
            Defaults to 0.9.
    """
    priority = 'VERY_HIGH'

    def __init__(self, min_match: float = 0.9) -> None:
        self.min_match = min_match

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        model = runner.model
        # DDP and test-time augmentation wrap the model (mmengine's loader
        # unwraps them the same way)
        while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
            model = model.module
        report = convert_model_checkpoint(model, checkpoint)
        check_report(report, self.min_match, type(model).__name__)
