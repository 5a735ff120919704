"""Export a detector or segmentor of a config to ONNX, to its raw head
outputs, and check the file in ONNX Runtime against PyTorch.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --shape H W
        [--dynamic] [--min-size 64] [--max-size 2048] [--output-file FILE]
        [--input-img IMG ...] [--no-verify] [--cfg-options k=v ...]

The file's input is the preprocessed image batch (normalised and padded as
the config's data preprocessor does; batch 1), its outputs the raw head
outputs (see :class:`mmhybrid.utils.deploy.RawOutputs`: RetinaNet's score and
box maps, a two-stage detector's neck features and RPN maps, a segmentor's
logits); the tool prints their names. ``--dynamic`` makes H and W symbolic
(between ``--min-size`` and ``--max-size``), otherwise they are ``--shape``.

CHECKPOINT loads as in ``tools/test.py``: official layouts convert, the log
says ``loaded N/M tensors`` and a partly random model is refused.

The check (on unless ``--no-verify``): the raw outputs of ONNX Runtime and
PyTorch agree within ``--atol`` at several sizes (random inputs), and on the
images (``--input-img``, else two random images) through the config's test
pipeline, the model's own post-processing gives the same detections from
ONNX Runtime's outputs as ``model.predict`` in PyTorch, or the same
segmentation except where the logits nearly tie (a label may differ only
where PyTorch's margin between the two labels is within 2 x ``--atol``).
"""
import argparse
import copy
import os.path as osp
import sys
from typing import Dict, List, Tuple

import mmcv
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict

from mmhybrid.models.utils.whole_model import (check_report,
                                               convert_model_checkpoint)
from mmhybrid.utils.deploy import (RawOutputs, compare_predictions,
                                   export_onnx, onnx_runner, predict_from_raw,
                                   traceable_pooling, traceable_upsampling)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export a detector / segmentor to ONNX (raw head '
        'outputs) and check it in ONNX Runtime')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file (whole model)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        required=True,
                        help='input height and width of the export (the '
                        'example input with --dynamic)')
    parser.add_argument('--dynamic', action='store_true',
                        help='symbolic input height and width')
    parser.add_argument('--min-size', type=int, default=64,
                        help='smallest H, W of a dynamic export')
    parser.add_argument('--max-size', type=int, default=2048,
                        help='largest H, W of a dynamic export')
    parser.add_argument('--output-file',
                        help='ONNX file; defaults to <config name>.onnx')
    parser.add_argument('--input-img', nargs='+',
                        help='images for the post-processed check '
                        '(default: two random images)')
    parser.add_argument('--no-verify', dest='verify', action='store_false',
                        help='skip the ONNX Runtime checks')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest allowed difference of raw outputs, '
                        'scores and logits between ONNX Runtime and PyTorch')
    parser.add_argument('--box-atol', type=float, default=1e-2,
                        help='largest allowed box difference (pixels)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args()


def build_model(cfg: Config, checkpoint: str) -> torch.nn.Module:
    """The config's model with the checkpoint loaded as the tools load it
    (:class:`~mmhybrid.engine.CheckpointLoadHook`'s conversion, report and
    floor), in eval mode."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    min_match = next((h.get('min_match', 0.9)
                      for h in cfg.get('custom_hooks') or []
                      if str(h.get('type')).endswith('CheckpointLoadHook')),
                     0.9)
    report = convert_model_checkpoint(model, ckpt)
    check_report(report, min_match, type(model).__name__)
    load_state_dict(model, ckpt['state_dict'], strict=False)
    return model.eval()


def test_pipeline(cfg: Config, shape: Tuple[int, int],
                  resize: bool) -> Compose:
    """The config's test pipeline on in-memory images, without annotations;
    with ``resize`` (a static export) the images are resized to exactly
    ``shape``."""
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    pipeline = [t for t in pipeline
                if not t['type'].endswith('LoadAnnotations')]
    assert pipeline[0]['type'].endswith('LoadImageFromFile'), pipeline[0]
    pipeline[0] = dict(type='LoadImageFromNDArray')
    if resize:
        for t in pipeline:
            if t['type'].endswith('Resize'):
                t.update(scale=(shape[1], shape[0]), keep_ratio=False)
    return Compose(pipeline)


def load_images(paths: List[str], shape: Tuple[int, int]) -> List:
    if paths:
        return [mmcv.imread(p) for p in paths]
    rng = np.random.default_rng(0)
    h, w = shape
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 256, (h * 3 // 4 + 5, w + 37, 3),
                         dtype=np.uint8)]


def check_predictions(raw: RawOutputs, path: str, cfg: Config, args
                      ) -> List[Dict[str, float]]:
    """Post-processed predictions from ONNX Runtime vs ``model.predict``
    on each image; raises when they differ."""
    model = raw.model
    # a sliding-window segmentor runs the file on its crops
    slide = raw.kind == 'segmentor' and model.test_cfg.get('mode') == 'slide'
    if slide and not args.dynamic:
        assert tuple(model.test_cfg.crop_size) == tuple(args.shape), (
            'a static export of a sliding-window segmentor runs on its '
            f'crops: use --shape {model.test_cfg.crop_size} or --dynamic')
    pipeline = test_pipeline(cfg, args.shape,
                             resize=not args.dynamic and not slide)
    run = onnx_runner(path)
    reports = []
    for i, img in enumerate(load_images(args.input_img, args.shape)):
        data = pseudo_collate([pipeline(dict(img=img, img_id=i))])
        data = model.data_preprocessor(data, False)
        inputs, samples = data['inputs'], data['data_samples']
        if not args.dynamic and not slide:
            assert tuple(inputs.shape[2:]) == tuple(args.shape), (
                f'the preprocessed image is {tuple(inputs.shape[2:])} (the '
                'data preprocessor pads), the static export '
                f'{tuple(args.shape)}: give a --shape the preprocessor '
                'keeps, or --dynamic')
        with torch.no_grad():
            ref = model.predict(inputs, copy.deepcopy(samples))
        own = compare_predictions(
            ref, predict_from_raw(raw, raw, inputs, samples))
        ort = compare_predictions(
            ref, predict_from_raw(raw, run, inputs, samples))
        name = args.input_img[i] if args.input_img else f'random image {i}'
        print(f'{name} {tuple(inputs.shape[2:])}: ONNX Runtime vs '
              f'model.predict: {fmt(ort)} (PyTorch raw outputs: '
              f'{fmt(own)})')
        reports.append(ort)
        # the cut itself: PyTorch's raw outputs + post-processing = predict
        assert all(v == (1. if k == 'count' else 0.) for k, v in own.items()
                   if k != 'detections'), f'{name}: {fmt(own)}'
        # a label pixel may flip only at a near-tie of the logits
        limits = dict(bboxes=args.box_atol, scores=args.atol,
                      seg_logits=args.atol, pixel_margin=2 * args.atol,
                      mask_pixels=0.)
        bad = {k: v for k, v in ort.items()
               if (v != 1. if k == 'count' else v > limits.get(k, v))}
        assert not bad, (
            f'{path}: the post-processed predictions of ONNX Runtime differ '
            f'from PyTorch\'s on {name}: {fmt(bad)}')
    return reports


def fmt(diff: Dict[str, float]) -> str:
    return ', '.join(f'{k} {v:.3g}' for k, v in diff.items()) or 'no output'


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    path = args.output_file or \
        osp.splitext(osp.basename(args.config))[0] + '.onnx'
    raw = RawOutputs(build_model(cfg, args.checkpoint))
    # symbolic forms of mmseg's Upsample and of the adaptive pools (UperNet's
    # PPM); eager outputs are the same
    with traceable_upsampling(raw), traceable_pooling(raw):
        report = export_onnx(
            raw, path, example_size=tuple(args.shape),
            min_size=args.min_size, max_size=args.max_size,
            dynamic=args.dynamic, atol=args.atol,
            verify_sizes=None if args.verify else ())
    print(f'wrote {path}: input (1, 3, '
          + ('H, W' if args.dynamic else '{}, {}'.format(*args.shape))
          + '), outputs ' + ', '.join(raw.output_names()))
    for size, diff in report:
        print(f'raw outputs at {size}: ONNX Runtime vs PyTorch max abs '
              f'diff {diff:.3g}')
    if args.verify:
        check_predictions(raw, path, cfg, args)
        print('check passed')


if __name__ == '__main__':
    sys.exit(main())
