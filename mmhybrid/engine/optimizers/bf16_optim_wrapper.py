"""Mixed precision on CPU: what ``tools/train.py --amp`` uses without a GPU."""
from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from mmhybrid.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUBF16OptimWrapper(OptimWrapper):
    """Runs the forward and loss under CPU bfloat16 autocast.

    mmengine's ``AmpOptimWrapper`` asserts a GPU (its loss scaler is a CUDA
    ``GradScaler``). bfloat16 has float32's exponent range, so no loss
    scaling is needed: this is a plain :class:`OptimWrapper` whose
    :meth:`optim_context` also enables autocast.
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), \
                torch.autocast('cpu', dtype=torch.bfloat16):
            yield
