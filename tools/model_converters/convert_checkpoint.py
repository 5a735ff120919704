"""Convert an official checkpoint to the mmhybrid layout.

    python tools/model_converters/convert_checkpoint.py HorNet \
        hornet_tiny_7x7.pth hornet-t_mmhybrid.pth [--arch t]

Unwraps model / state_dict / state_dict_ema, strips module. and backbone.
prefixes, applies the backbone's official-key converter (dropping the
classification head) and writes ``{'state_dict': {'backbone.<key>': ...}}``,
which loads with mmengine's stock ``init_cfg=dict(type='Pretrained',
checkpoint=..., prefix='backbone.')`` and with ``weights_only=True``. With
--arch, the keys are also checked against that model and the load report is
printed. SRC is read with ``weights_only=True`` (plus the allow-listed
types official releases pickle); ``--no-weights-only`` opts in to full
unpickling for files you trust.
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


def main():
    parser = argparse.ArgumentParser(description='official -> mmhybrid')
    parser.add_argument('backbone', help='backbone type, e.g. HorNet')
    parser.add_argument('src', help='official checkpoint (path or URL)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--arch', help='check the result against this arch '
                        '(a variant name or a dict literal)')
    parser.add_argument(
        '--no-weights-only', action='store_true',
        help='unpickle SRC fully (runs any code in it: only for files you '
        'trust); the written file holds tensors only')
    parser.add_argument('--kwargs', nargs='+', action=DictAction, default={},
                        help='extra backbone arguments for the check')
    args = parser.parse_args()

    cls = MODELS.get(args.backbone.split('.')[-1])
    if cls is None:
        raise SystemExit(f'unknown backbone {args.backbone!r}; registered: '
                         f'{sorted(MODELS.module_dict)}')
    state_dict = extract_state_dict(
        read_checkpoint(args.src, weights_only=not args.no_weights_only),
        keys=getattr(cls, 'state_dict_keys', STATE_DICT_KEYS))
    state_dict = convert_state_dict(cls, state_dict)
    if args.arch:
        model = cls(arch=parse_arch_arg(args.arch), **args.kwargs)
        print(load_state_dict_report(model, state_dict))
    torch.save({'state_dict': {f'backbone.{k}': v.contiguous()
                               for k, v in state_dict.items()},
                'meta': dict(converted_from=args.src)}, args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
