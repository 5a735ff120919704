from .hooks import CheckpointLoadHook, MainProcessLoggerHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import CPUBF16OptimWrapper, LayerDecayOptimWrapperConstructor

__all__ = [
    'CheckpointLoadHook', 'CPUBF16OptimWrapper', 'CPUDistributedDataParallel',
    'LayerDecayOptimWrapperConstructor', 'MainProcessLoggerHook'
]
