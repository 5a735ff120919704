# Copyright (c) mmhybrid contributors. All rights reserved.
"""ONNX export of mmhybrid backbones with dynamic height and width.

:func:`export_onnx` traces with ``torch.export`` (H and W symbolic between
``min_size`` and ``max_size``), converts with PyTorch's ONNX exporter and,
by default, checks the file in ONNX Runtime against PyTorch at several
sizes (odd and non-square ones included): a file whose outputs differ from
PyTorch's raises instead of being written silently wrong.

The example input should be well inside the range (e.g. 256 x 320): sizes
that are 1 at the example (a window count, a run count) would be fixed.
Guards the shape solver cannot prove for every size (divisibility of
derived sizes, ``size != 1``) become runtime assertions, which ONNX drops;
the verification at several sizes is what checks the graph.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

#: Sizes (H, W) the exported file is checked at, clipped to the range.
VERIFY_SIZES = ((256, 320), (233, 301), (320, 256), (289, 289))


def export_onnx(model: nn.Module, path: str,
                example_size: Tuple[int, int] = (256, 320),
                min_size: int = 64, max_size: int = 2048,
                in_channels: int = 3, dynamic: bool = True,
                verify_sizes: Optional[Sequence[Tuple[int, int]]] = None,
                atol: float = 1e-4) -> List[Tuple[Tuple[int, int], float]]:
    """Export ``model`` (eval mode) to ``path``; returns the verification
    ``[(size, max abs diff)]`` (empty when ``verify_sizes=()``).

    Raises:
        AssertionError: ONNX Runtime's outputs differ from PyTorch's by more
            than ``atol`` at a verification size.
    """
    from torch.export import Dim
    model = model.eval()
    # the model's floating dtype (float64 to check a graph to ~1e-10)
    dtype = next(model.parameters()).dtype
    x = torch.rand(1, in_channels, *example_size, dtype=dtype)
    shapes = None
    if dynamic:
        shapes = ({2: Dim('height', min=min_size, max=max_size),
                   3: Dim('width', min=min_size, max=max_size)}, )
    with torch.no_grad():
        ep = torch.export.export(
            model, (x, ), dynamic_shapes=shapes,
            prefer_deferred_runtime_asserts_over_guards=True)
    torch.onnx.export(ep, (x, ), path, dynamo=True, optimize=True,
                      verbose=False)
    if verify_sizes is None:
        # the smallest sizes too: a branch taken differently there (e.g.
        # Swin's no-shift rule up to 224) must fail here, not in deployment
        small = [(min_size, min_size), (min_size + 1, min_size + 37)]
        verify_sizes = [s for s in [*small, *VERIFY_SIZES]
                        if min(s) >= min_size and max(s) <= max_size] \
            if dynamic else [tuple(example_size)]
    report = []
    for size in verify_sizes:
        xi = torch.rand(1, in_channels, *size, dtype=dtype)
        with torch.no_grad():
            ref = model(xi)
        outs = run_onnx(path, xi)
        diff = max(float(np.abs(o - r.numpy()).max())
                   for o, r in zip(outs, ref))
        shapes_ok = [o.shape for o in outs] == \
            [tuple(r.shape) for r in ref]
        report.append((tuple(size), diff))
        assert shapes_ok and diff <= atol, (
            f'{path}: ONNX Runtime differs from PyTorch at {size} '
            f'(max abs diff {diff:.3g}, shapes ok: {shapes_ok}); see the '
            'Deployment section of the README for the models whose export '
            'is not exact')
    return report


def run_onnx(path: str, x: torch.Tensor) -> List[np.ndarray]:
    """Outputs of the ONNX file ``path`` for the image batch ``x`` in ONNX
    Runtime (CPU)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
