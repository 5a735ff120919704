"""Convert an official checkpoint to the mmhybrid / OpenMMLab 2.x layout.

Backbone only (the weights for ``init_cfg=dict(type='Pretrained')``)::

    python tools/model_converters/convert_checkpoint.py HorNet \
        hornet_tiny_7x7.pth hornet-t_mmhybrid.pth [--arch t]

Unwraps model / state_dict / state_dict_ema, strips module. and backbone.
prefixes, applies the backbone's official-key converter (dropping the
classification head) and writes ``{'state_dict': {'backbone.<key>': ...}}``,
which loads with mmengine's stock ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')`` and with ``weights_only=True``. With
--arch, the keys are also checked against that model and the load report is
printed.

Whole model (an official fine-tuned detector or segmentor, an official
classifier), for the model a config builds::

    python tools/model_converters/convert_checkpoint.py \
        configs/hornet/cascade_mask_rcnn_hornet_t_3x.py \
        cascade_mask_rcnn_hornet_tiny_7x7_3x_coco.pth out.pth

The model is built on the meta device (no memory); an mmdet 2.x / mmseg 0.x
file or an official classifier (whose ``head`` goes to mmpretrain's
``head.fc``, its final norm to the backbone) is mapped to the model's keys,
global filters and position tables are resized to the config's, and the
file written is ``{'state_dict': ..., 'meta': ...}`` with tensors only: it
loads with ``weights_only=True`` and with the stock mmdet / mmseg /
mmpretrain tools. The load report is printed, and nothing is written when
less than ``--min-match`` of the model would load.

SRC is read with ``weights_only=True`` (plus the allow-listed types official
releases pickle); ``--no-weights-only`` opts in to full unpickling for files
you trust.
"""
import argparse

import torch
from mmengine.config import DictAction

import mmhybrid  # noqa: F401
from mmhybrid.models.utils import (convert_state_dict, extract_state_dict,
                                   load_state_dict_report, read_checkpoint)
from mmhybrid.models.utils.checkpoint import STATE_DICT_KEYS
from mmhybrid.registry import MODELS
from mmhybrid.utils.setup_env import parse_arch_arg


def convert_backbone(args, checkpoint) -> None:
    cls = MODELS.get(args.target.split('.')[-1])
    if cls is None:
        raise SystemExit(f'unknown backbone {args.target!r}; registered: '
                         f'{sorted(MODELS.module_dict)}')
    state_dict = extract_state_dict(
        checkpoint, keys=getattr(cls, 'state_dict_keys', STATE_DICT_KEYS))
    state_dict = convert_state_dict(cls, state_dict)
    if args.arch:
        model = cls(arch=parse_arch_arg(args.arch), **args.kwargs)
        print(load_state_dict_report(model, state_dict))
    torch.save({'state_dict': {f'backbone.{k}': v.contiguous()
                               for k, v in state_dict.items()},
                'meta': dict(converted_from=args.src)}, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')


def convert_model(args, checkpoint) -> None:
    from mmengine.config import Config
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope

    from mmhybrid.models.utils import convert_model_checkpoint
    from mmhybrid.models.utils.whole_model import check_report
    cfg = Config.fromfile(args.target)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    with torch.device('meta'):
        model = ROOT_MODELS.build(cfg.model)
    report = convert_model_checkpoint(model, checkpoint)
    check_report(report, args.min_match, type(model).__name__)
    state_dict = checkpoint['state_dict']
    torch.save({'state_dict': {k: state_dict[k].contiguous()
                               for k in report.loaded},
                'meta': dict(converted_from=args.src, config=args.target)},
               args.dst)
    print(f'{type(model).__name__}: {report}')
    print(f'wrote {len(report.loaded)} tensors to {args.dst}')


def main():
    parser = argparse.ArgumentParser(
        description='official checkpoint -> mmhybrid / OpenMMLab 2.x layout')
    parser.add_argument(
        'target', help='backbone type (e.g. HorNet): backbone weights; or a '
        'config file: the whole model it builds')
    parser.add_argument('src', help='official checkpoint (path or URL)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--arch', help='backbone mode: check the result '
                        'against this arch (a variant name or a dict '
                        'literal)')
    parser.add_argument(
        '--no-weights-only', action='store_true',
        help='unpickle SRC fully (runs any code in it: only for files you '
        'trust); the written file holds tensors only')
    parser.add_argument('--kwargs', nargs='+', action=DictAction, default={},
                        help='backbone mode: extra backbone arguments for '
                        'the check')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config mode: override config settings')
    parser.add_argument(
        '--min-match', type=float, default=0.9,
        help='config mode: refuse to write when less than this fraction of '
        'the model loads (default 0.9)')
    args = parser.parse_args()
    checkpoint = read_checkpoint(args.src,
                                 weights_only=not args.no_weights_only)
    if args.target.endswith('.py'):
        convert_model(args, checkpoint)
    else:
        convert_backbone(args, checkpoint)


if __name__ == '__main__':
    main()
