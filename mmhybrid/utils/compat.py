"""Compatibility of mmengine 0.10.7 with current torch."""
import torch


def allow_mmengine_checkpoints() -> None:
    """Let runner checkpoints load under torch's ``weights_only`` default.

    torch >= 2.6 loads with ``weights_only=True``, and mmengine 0.10.7 calls
    ``torch.load`` without the argument, so ``--resume`` and ``load_from``
    fail on what a runner checkpoint pickles besides tensors (the message
    hub's ``HistoryBuffer``, numpy scalars and arrays in its logs). Rather
    than turning the safe loader off, this allow-lists exactly those types.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # torch < 2.4 does not restrict loading
        return
    import numpy as np
    from mmengine.logging import HistoryBuffer

    np_core = getattr(np, '_core', None) or np.core
    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64,
                                          np.int32, np.bool_)]
    add_safe_globals([
        HistoryBuffer, np_core.multiarray._reconstruct,
        np_core.multiarray.scalar, np.ndarray, np.dtype, *dtypes
    ])
