"""FLOP counting on top of mmengine's ``FlopAnalyzer``, for what it misses.

mmengine (fvcore) counts one multiply-add as one FLOP for convolutions,
linear layers, ``matmul``/``bmm``/``einsum`` and norms, and skips every other
op with a warning. Hybrid backbones need more:

- FFTs (HorNet's global filter): ``N log2 N`` per transformed signal of ``N``
  points, keyed on the ``dim`` argument actually passed, so the layout
  (BCHW vs BHWC) cannot fool it;
- fused attention (``scaled_dot_product_attention``, ACmix's window
  attention): ``QK^T`` plus ``AV``;
- ``unfold``/``im2col``: data movement, 0 FLOPs (registered so that it is
  not reported as unsupported);
- optionally (``elementwise=True``), element-wise products and reductions,
  for attention written as ``(q * k).sum()`` (ACmix) and gnConv's gating:
  one FLOP per output element of ``mul`` and one per input element of ``sum``.

Units: the counter's "flop" is one multiply-accumulate (MAC), the number the
papers call FLOPs; real floating-point operations are twice that
(:func:`macs_to_flops`), the unit of a measured matmul peak (``2 n^3 / t``).
"""
import math
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

#: Forward+backward costs about three forwards (two matmuls per forward
#: matmul in backward); the convention of the scaling-law literature.
FWD_BWD_FACTOR = 3


def macs_to_flops(macs: float) -> float:
    """Real floating-point operations of ``macs`` multiply-accumulates."""
    return 2 * macs


def _prod(xs: Sequence[int]) -> int:
    return int(math.prod(xs))


def _const(val: Any) -> Any:
    """The value of a traced constant, or of a list of constants."""
    node = val.node()
    if node.kind() == 'prim::ListConstruct':
        items = [_const(v) for v in node.inputs()]
        return None if any(i is None for i in items) else items
    try:
        return val.toIValue()
    except Exception:  # not a constant
        return None


def _fft_handle(num_dims: int, real_output: bool = False) -> Callable:
    """FLOPs of an n-dimensional (r)FFT over the dims it was called with."""

    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        # fft_rfft2(self, s, dim, norm) / fft_rfftn(self, s, dim, norm) /
        # fft_rfft(self, n, dim, norm): the signal shape is the input's for a
        # forward transform, the output's for an inverse real one.
        shape = get_shape(outputs[0] if real_output else inputs[0])
        dims = _const(inputs[2]) if len(inputs) > 2 else None
        if dims is None:
            dims = list(range(-num_dims, 0))
        if isinstance(dims, int):
            dims = [dims]
        n = _prod(shape[d] for d in dims)
        batch = _prod(shape) // max(n, 1)
        return int(batch * n * math.log2(max(n, 2)))

    return handle


def _sdpa_handle(inputs: List[Any], outputs: List[Any]) -> int:
    q, k = get_shape(inputs[0]), get_shape(inputs[1])
    # QK^T: (..., L, d) x (..., d, S); AV: (..., L, S) x (..., S, d)
    return 2 * _prod(q[:-1]) * k[-2] * q[-1]


def _sliding_window_attention(inputs: List[Any], outputs: List[Any]) -> int:
    """ACmix's sliding-window attention (``_SlidingWindowAttention``, see
    ``layers/sliding_window_attention.py``): ``q . k`` and ``a v`` over the
    ``k*k`` offsets of every output position."""
    kernel_size = [a for a in outputs[0].node().scalar_args()
                   if isinstance(a, int)][0]
    return 2 * _prod(get_shape(outputs[0])) * kernel_size**2


def _zero(inputs: List[Any], outputs: List[Any]) -> int:
    return 0


def _out_elements(inputs: List[Any], outputs: List[Any]) -> int:
    return _prod(get_shape(outputs[0]) or [1])


def _in_elements(inputs: List[Any], outputs: List[Any]) -> int:
    return _prod(get_shape(inputs[0]) or [1])


EXTRA_HANDLES: Dict[str, Callable] = {
    'aten::fft_rfft2': _fft_handle(2),
    'aten::fft_irfft2': _fft_handle(2, real_output=True),
    'aten::fft_fft2': _fft_handle(2),
    'aten::fft_ifft2': _fft_handle(2),
    'aten::fft_rfftn': _fft_handle(2),
    'aten::fft_irfftn': _fft_handle(2, real_output=True),
    'aten::fft_rfft': _fft_handle(1),
    'aten::fft_irfft': _fft_handle(1, real_output=True),
    'aten::scaled_dot_product_attention': _sdpa_handle,
    'prim::PythonOp._SlidingWindowAttention': _sliding_window_attention,
    'aten::im2col': _zero,
    'aten::unfold': _zero,
}
ELEMENTWISE_HANDLES: Dict[str, Callable] = {
    'aten::mul': _out_elements,
    'aten::mul_': _out_elements,
    'aten::sum': _in_elements,
    'aten::softmax': _out_elements,
}


def flop_analyzer(model, inputs, elementwise: bool = False) -> FlopAnalyzer:
    """A ``FlopAnalyzer`` that also counts :data:`EXTRA_HANDLES` (and
    :data:`ELEMENTWISE_HANDLES` when ``elementwise``)."""
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.set_op_handle(**EXTRA_HANDLES)
    if elementwise:
        analyzer.set_op_handle(**ELEMENTWISE_HANDLES)
    return analyzer


def count_macs(model: nn.Module, x: torch.Tensor,
               elementwise: bool = False) -> Tuple[int, Dict[str, int]]:
    """MACs (the papers' "FLOPs") of ``model(x)`` in eval mode, and the ops
    the counter skipped, from :func:`flop_analyzer` (``elementwise``: count
    element-wise ops too)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analyzer = flop_analyzer(model, (x, ), elementwise=elementwise)
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            return analyzer.total(), dict(analyzer.unsupported_ops())
    finally:
        model.train(was_training)
