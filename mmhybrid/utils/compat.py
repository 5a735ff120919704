"""Compatibility of mmengine 0.10.7 with current torch."""
import torch


def _history_buffer_getattr(obj, name: str):
    """``getattr`` restricted to what a runner checkpoint needs.

    ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')`` (pickle protocol 2 and a nested
    qualname); only those lookups are let through.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and callable(getattr(obj, name, None)) and \
            not name.startswith('_'):
        return getattr(obj, name)
    raise RuntimeError(f'refusing getattr({obj!r}, {name!r}) while loading '
                       'a checkpoint with weights_only=True')


def allow_mmengine_checkpoints() -> None:
    """Let runner checkpoints load under torch's ``weights_only`` default.

    torch >= 2.6 loads with ``weights_only=True``, and mmengine 0.10.7 calls
    ``torch.load`` without the argument, so ``--resume`` and ``load_from``
    fail on what a runner checkpoint pickles besides tensors (the message
    hub's ``HistoryBuffer`` and its statistics methods, numpy scalars and
    arrays in its logs). Rather than turning the safe loader off, this
    allow-lists exactly those types, and ``getattr`` only for
    ``HistoryBuffer``'s public methods.
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
        np_core.multiarray.scalar, np.ndarray, np.dtype, *dtypes,
        (_history_buffer_getattr, 'builtins.getattr')
    ])
