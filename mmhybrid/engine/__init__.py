from .hooks import MainProcessLoggerHook
from .model_wrappers import CPUDistributedDataParallel
from .optimizers import CPUBF16OptimWrapper, LayerDecayOptimWrapperConstructor

__all__ = [
    'CPUBF16OptimWrapper', 'CPUDistributedDataParallel',
    'LayerDecayOptimWrapperConstructor', 'MainProcessLoggerHook'
]
