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

Whole detectors and segmentors (``tools/deployment/pytorch2onnx.py``):
:class:`RawOutputs` is the network part of the model as a function of the
preprocessed image batch (the raw head outputs; a two-stage detector is cut
after its RPN head, see the class), :func:`predict_from_raw` runs the model's
own post-processing on such outputs, from PyTorch or from ONNX Runtime, and
:func:`compare_predictions` says whether two post-processed results agree.
During the export the tool swaps in symbolic forms of mmseg's ``Upsample``
(:func:`traceable_upsampling`) and of ``nn.AdaptiveAvgPool2d``
(:func:`traceable_pooling`, UperNet's pyramid pooling); eager outputs are
the same.
"""
import copy
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

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
    return [o.numpy() for o in onnx_runner(path)(x)]


def onnx_runner(path: str) -> Callable[[torch.Tensor], List[torch.Tensor]]:
    """A function that runs the ONNX file ``path`` in ONNX Runtime (CPU) on
    an image batch and returns its outputs as tensors (one session for all
    calls, e.g. the crops of a sliding-window segmentor)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> List[torch.Tensor]:
        return [torch.from_numpy(o) for o in sess.run(None, {name: x.numpy()})]

    return run


class RawOutputs(nn.Module):
    """The network part of an mmdet detector or mmseg segmentor: the
    preprocessed image batch (what the model's data preprocessor gives:
    normalised, padded) to its raw head outputs, as a flat tuple of tensors.

    - Single-stage detector (RetinaNet, FCOS, ...): backbone, neck and
      ``bbox_head`` (e.g. RetinaNet: 5 ``cls_score`` maps, then 5
      ``bbox_pred`` maps); anchors, decoding and NMS are post-processing.
    - Two-stage detector (Mask R-CNN, Cascade Mask R-CNN): backbone, neck
      and RPN head: the neck's feature maps, then the RPN's ``cls_score``
      and ``bbox_pred`` maps. The RoI heads need the proposals, i.e. the
      RPN's NMS, so they stay in the post-processing, which runs them on the
      exported features.
    - Encoder-decoder segmentor (UperNet, Semantic FPN): the decode head's
      logits at its own resolution (``model._forward``); resizing, sliding
      windows and argmax are post-processing.

    Args:
        model (nn.Module): The detector or segmentor, in eval mode.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        if hasattr(model, 'decode_head'):
            self.kind = 'segmentor'
        elif getattr(model, 'with_rpn', False):
            self.kind = 'two_stage'
        elif hasattr(model, 'bbox_head'):
            self.kind = 'single_stage'
        else:
            raise TypeError(f'{type(model).__name__} is neither an mmdet '
                            'detector nor an mmseg encoder-decoder')
        #: lengths of the groups in the flat output (None: one tensor)
        self.groups: List[Optional[int]] = []

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model = self.model
        if self.kind == 'segmentor':
            groups = [model._forward(x)]
        else:
            feats = model.extract_feat(x)
            head = model.bbox_head if self.kind == 'single_stage' \
                else model.rpn_head
            groups = list(head(feats))
            if self.kind == 'two_stage':
                groups.insert(0, feats)
        self.groups = [None if isinstance(g, torch.Tensor) else len(g)
                       for g in groups]
        return tuple(t for g in groups
                     for t in ([g] if isinstance(g, torch.Tensor) else g))

    def output_names(self) -> List[str]:
        """Names of the flat outputs (after a forward), e.g.
        ``['cls_score.0', ..., 'bbox_pred.4']``."""
        group_names = dict(
            segmentor=['seg_logits'],
            single_stage=['cls_score', 'bbox_pred', 'centerness'],
            two_stage=['feat', 'rpn_cls_score', 'rpn_bbox_pred'])[self.kind]
        names = []
        for i, n in enumerate(self.groups):
            name = group_names[i] if i < len(group_names) else f'output{i}'
            names += [name] if n is None else \
                [f'{name}.{j}' for j in range(n)]
        return names

    def unflatten(self, flat: Sequence[torch.Tensor]) -> List:
        """The flat outputs back in the head's structure (lists per
        level)."""
        out, i = [], 0
        for n in self.groups:
            out.append(flat[i] if n is None else list(flat[i:i + n]))
            i += 1 if n is None else n
        return out


@contextmanager
def traceable_upsampling(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context, mmseg's ``Upsample`` modules with an integer
    ``scale_factor`` are torch's ``nn.Upsample``.

    mmseg's computes its output size as ``int(size * scale_factor)``, a
    float that ``torch.export`` turns into the example's constant without a
    warning: Semantic FPN's file was then off by 0.02-0.17 at every size but
    the example's. ``nn.Upsample`` gives the same output (the same size and
    the same ``1 / scale_factor`` source coordinates) and stays symbolic.
    """
    try:
        from mmseg.models.utils import Upsample
    except ImportError:  # no mmseg, no mmseg Upsample
        Upsample = None

    def replace(child: nn.Module) -> Optional[nn.Module]:
        if (Upsample is not None and isinstance(child, Upsample)
                and not child.size
                and float(child.scale_factor).is_integer()):
            return nn.Upsample(scale_factor=int(child.scale_factor),
                               mode=child.mode,
                               align_corners=child.align_corners)
        return None

    with _swapped(model, replace):
        yield model


@contextmanager
def _swapped(model: nn.Module,
             replace: Callable[[nn.Module], Optional[nn.Module]]
             ) -> Iterator[None]:
    """Within the context, every submodule for which ``replace`` returns a
    module is that module; the originals are put back afterwards."""
    swaps = [(parent, name, child, new)
             for parent in model.modules()
             for name, child in list(parent.named_children())
             for new in [replace(child)] if new is not None]
    for parent, name, _, new in swaps:
        setattr(parent, name, new)
    try:
        yield
    finally:
        for parent, name, child, _ in swaps:
            setattr(parent, name, child)


class BinnedAdaptiveAvgPool2d(nn.Module):
    """``nn.AdaptiveAvgPool2d`` with an integer output size, written so that
    ``torch.export`` keeps the input's height and width symbolic.

    PyTorch's bin ``i`` of ``o`` over a length ``n`` spans
    ``[floor(i * n / o), ceil((i + 1) * n / o))`` (bins overlap when ``o``
    does not divide ``n`` and repeat rows when ``n < o``). ``torch.export``
    decomposes the adaptive pool with the example's boundaries; here they
    are tensors of ``n``: a 0/1 mask ``(o, n)`` per axis from ``arange``
    comparisons, the bin sums as two matrix products and the mean as a
    division by the bin areas. Positive integer arithmetic only (ONNX's
    integer ``Div`` truncates).

    Args:
        output_size (int | tuple[int, int]): Output height and width.
    """

    def __init__(self, output_size) -> None:
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(int(o) for o in output_size)

    @staticmethod
    def _bins(n, o: int, x: torch.Tensor) -> Tuple[torch.Tensor,
                                                   torch.Tensor]:
        """The 0/1 membership mask ``(o, n)`` of the bins and their
        lengths ``(o, )``, in ``x``'s dtype."""
        i = torch.arange(o, device=x.device)
        start = i * n // o
        end = ((i + 1) * n + o - 1) // o  # ceil of a positive ratio
        pos = torch.arange(n, device=x.device)
        mask = (pos[None] >= start[:, None]) & (pos[None] < end[:, None])
        return mask.to(x.dtype), (end - start).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (oh, ow), (h, w) = self.output_size, x.shape[-2:]
        mask_h, len_h = self._bins(h, oh, x)
        mask_w, len_w = self._bins(w, ow, x)
        sums = mask_h @ x @ mask_w.t()
        return sums / (len_h[:, None] * len_w[None])

    def extra_repr(self) -> str:
        return f'output_size={self.output_size}'


@contextmanager
def traceable_pooling(model: nn.Module) -> Iterator[nn.Module]:
    """Within the context, every ``nn.AdaptiveAvgPool2d`` with an integer
    output size (e.g. UperNet's pyramid pooling to 1, 2, 3, 6) is a
    :class:`BinnedAdaptiveAvgPool2d`: the same output, and H, W stay
    symbolic under ``torch.export`` (the plain pool's decomposition fixes
    the example's bin boundaries; UperNet's dynamic file then failed in
    ONNX Runtime at other sizes or was 0.58 off)."""
    def replace(child: nn.Module) -> Optional[nn.Module]:
        if type(child) is not nn.AdaptiveAvgPool2d:
            return None
        size = child.output_size
        sizes = size if isinstance(size, (tuple, list)) else (size, )
        if not all(isinstance(s, int) for s in sizes):  # e.g. (None, 7)
            return None
        return BinnedAdaptiveAvgPool2d(size)

    with _swapped(model, replace):
        yield model


def predict_from_raw(raw: RawOutputs,
                     run: Callable[[torch.Tensor], Sequence[torch.Tensor]],
                     inputs: torch.Tensor, data_samples: List) -> List:
    """The model's own prediction (``model.predict``), with the network part
    computed by ``run`` (:class:`RawOutputs` itself, or
    :func:`onnx_runner`'s function for an exported file).

    Args:
        raw (RawOutputs): The wrapped model.
        run (Callable): Preprocessed image batch -> flat raw outputs.
        inputs (Tensor): The preprocessed batch.
        data_samples (list): Its data samples (copied, not modified).

    Returns:
        list: Data samples with ``pred_instances`` (detectors) or
        ``pred_sem_seg`` and ``seg_logits`` (segmentors), as ``predict``
        fills them.
    """
    model = raw.model
    samples = copy.deepcopy(data_samples)
    metas = [s.metainfo for s in samples]
    with torch.no_grad():
        if raw.kind == 'segmentor':
            def encode_decode(x, img_metas):
                logits, = raw.unflatten(run(x))
                return model.decode_head.predict_by_feat(logits, img_metas)

            # whole or sliding-window inference, the crops through ``run``
            model.encode_decode = encode_decode
            try:
                logits = model.inference(inputs, metas)
            finally:
                del model.encode_decode
            return model.postprocess_result(logits, samples)
        outs = raw.unflatten(run(inputs))
        if raw.kind == 'single_stage':
            results = model.bbox_head.predict_by_feat(
                *outs, batch_img_metas=metas, rescale=True)
        else:
            feats = tuple(outs[0])
            proposals = model.rpn_head.predict_by_feat(
                *outs[1:], batch_img_metas=metas, rescale=False)
            results = model.roi_head.predict(feats, proposals, samples,
                                             rescale=True)
        return model.add_pred_to_datasample(samples, results)


def compare_predictions(ref: List, out: List) -> Dict[str, float]:
    """How far the post-processed predictions ``out`` are from ``ref``.

    Returns:
        dict: For detectors ``detections`` (how many ``ref`` has), ``count``
        (1 when every image has the same number of detections with the same
        labels, else 0), ``bboxes`` and
        ``scores`` (max abs difference) and, with masks, ``mask_pixels``
        (fraction of differing mask pixels); for segmentors ``pixels``
        (fraction of differing label pixels), ``seg_logits`` (max abs
        difference of the resized logits) and, where labels differ,
        ``pixel_margin``: the largest margin in ``ref``'s logits between its
        label and ``out``'s at such a pixel (a near-tie that rounding can
        flip has a margin within the logits' difference).
    """
    diff: Dict[str, float] = {}

    def worst(key: str, value: float) -> None:
        diff[key] = max(diff.get(key, 0.), float(value))

    for r, o in zip(ref, out):
        if 'pred_sem_seg' in r:
            a, b = r.pred_sem_seg.data, o.pred_sem_seg.data
            worst('pixels', (a != b).float().mean())
            if (a != b).any():
                logits = r.seg_logits.data
                margin = logits.gather(0, a) - logits.gather(0, b)
                worst('pixel_margin', margin[a != b].max())
            worst('seg_logits', (r.seg_logits.data -
                                 o.seg_logits.data).abs().max())
            continue
        a, b = r.pred_instances, o.pred_instances
        diff['detections'] = diff.get('detections', 0) + len(a)
        same = len(a) == len(b) and bool((a.labels == b.labels).all())
        diff['count'] = min(diff.get('count', 1.), float(same))
        if not same or not len(a):
            continue
        worst('bboxes', (a.bboxes - b.bboxes).abs().max())
        worst('scores', (a.scores - b.scores).abs().max())
        if 'masks' in a:
            worst('mask_pixels', (a.masks != b.masks).float().mean())
    return diff
