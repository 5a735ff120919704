"""Parameters and MACs of a backbone or a whole det/seg config.

    # HorNet-T with a 1000-class head at 224 (how the papers count):
    python tools/analysis_tools/get_flops.py HorNet --arch t --num-classes 1000
    # other scopes' backbones too (the head's width comes from a dry run):
    python tools/analysis_tools/get_flops.py mmdet.SwinTransformer \
        --num-classes 1000
    # a whole detector at 1280x800:
    python tools/analysis_tools/get_flops.py CONFIG --shape 800 1280

The count is in multiply-accumulates (MACs, fvcore's convention), which is
what the papers (and mmdet / mmpretrain model zoos) call "FLOPs"; real
floating-point operations are twice that (also printed). FFTs and fused
attention are counted (see mmhybrid.utils.flops); --elementwise also counts
element-wise products and sums.
"""
import argparse
import json

import torch
from mmengine.analysis import parameter_count
from mmengine.config import DictAction

from mmhybrid.utils.analysis import build_target
from mmhybrid.utils.flops import count_macs, macs_to_flops


def parse_args():
    parser = argparse.ArgumentParser(description='Params and FLOPs')
    parser.add_argument('target', help='config file or backbone type')
    parser.add_argument('--arch', help='backbone arch (for a backbone type)')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224],
                        help='input H W (or one value for a square)')
    parser.add_argument('--num-classes', type=int, default=0,
                        help='add a classification head (backbone only)')
    parser.add_argument('--elementwise', action='store_true',
                        help='count element-wise mul/sum/softmax too')
    parser.add_argument('--kwargs', nargs='+', action=DictAction, default={},
                        help='extra backbone arguments, e.g. drop_path_rate=0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides (for a config)')
    parser.add_argument('--json', action='store_true', help='print JSON')
    return parser.parse_args()


def main():
    args = parse_args()
    h, w = (args.shape * 2)[:2]
    model, desc = build_target(args.target, args.arch, args.num_classes,
                               args.kwargs, args.cfg_options)
    macs, unsupported = count_macs(model, torch.rand(1, 3, h, w),
                                   args.elementwise)
    params = parameter_count(model)['']
    flops = macs_to_flops(macs)
    result = dict(model=desc, input=[1, 3, h, w], params=params,
                  params_m=round(params / 1e6, 2), macs=macs,
                  gmacs=round(macs / 1e9, 2), flops=flops,
                  gflops=round(flops / 1e9, 2), uncounted_ops=unsupported)
    if args.json:
        print(json.dumps(result))
        return
    print(f'model: {desc}\ninput: 1x3x{h}x{w}\n'
          f'params: {params / 1e6:.2f} M\n'
          f'GMACs (the papers\' "FLOPs"): {macs / 1e9:.2f} G\n'
          f'real GFLOPs (2 x MACs): {flops / 1e9:.2f} G')
    if unsupported:
        print(f'ops not counted: {unsupported}')


if __name__ == '__main__':
    main()
