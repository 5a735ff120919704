from .bf16_optim_wrapper import CPUBF16OptimWrapper
from .layer_decay_optim_wrapper_constructor import \
    LayerDecayOptimWrapperConstructor

__all__ = ['CPUBF16OptimWrapper', 'LayerDecayOptimWrapperConstructor']
