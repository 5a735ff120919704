"""DDP over CPU processes (gloo), for machines without GPUs."""
from mmengine.logging import print_log
from mmengine.model import (MMDistributedDataParallel,
                            revert_sync_batchnorm)
from torch import nn

from mmhybrid.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` for CPU processes.

    torch's DDP refuses SyncBatchNorm on CPU ("SyncBatchNorm layers only work
    with GPU modules"), and the mmdet/mmseg configs use SyncBN. As mmengine's
    Runner does for a single process, SyncBN layers are reverted to plain
    BatchNorm first (each process then normalises with its own batch
    statistics), and the log says so. ``tools/dist_train.sh`` and
    ``tools/dist_test.sh`` use this wrapper when there is no GPU.

    Args:
        module (nn.Module): The model.
        **kwargs: Passed to :class:`MMDistributedDataParallel`;
            ``device_ids`` must be None (CPU).
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        # torch's SyncBatchNorm and mmcv's (MMSyncBN); revert handles both
        num_sync = sum('SyncBatchNorm' in type(m).__name__
                       for m in module.modules())
        if num_sync:
            module = revert_sync_batchnorm(module)
            print_log(
                f'CPU distributed (gloo): reverted {num_sync} SyncBN layers '
                'to BatchNorm (SyncBN needs GPUs); batch statistics are per '
                'process', logger='current')
        super().__init__(module=module, **kwargs)
