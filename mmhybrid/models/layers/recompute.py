# Copyright (c) mmhybrid contributors. All rights reserved.
"""What the memory-light autograd Functions of the layers share: when to use
them, and the autocast state their backward recomputes under."""
from contextlib import nullcontext
from typing import ContextManager, Optional, Tuple

import torch
from torch import Tensor

AutocastState = Tuple[str, bool, Optional[torch.dtype]]


def records_grad(*tensors: object) -> bool:
    """Whether autograd records an op on ``tensors`` in eager mode: only
    then are activations saved, so only then is trading them for
    recomputation worth it. Eval / no-grad, tracing and export take the
    plain ops."""
    return torch.is_grad_enabled() and \
        any(isinstance(t, Tensor) and t.requires_grad for t in tensors) and \
        not torch.compiler.is_compiling() and not torch.jit.is_tracing()


def autocast_state(device_type: str) -> AutocastState:
    """The autocast state of ``device_type``, to be restored by
    :func:`autocast_like` in a backward that recomputes forward ops
    (disabled on device types without autocast, e.g. 'meta')."""
    if not torch.amp.is_autocast_available(device_type):
        return device_type, False, None
    return (device_type, torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type))


def autocast_like(state: AutocastState) -> ContextManager:
    """An autocast context equal to the one :func:`autocast_state`
    recorded (what ``torch.amp.custom_bwd`` does, for any device)."""
    device_type, enabled, dtype = state
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type, dtype, enabled)
