"""Print the environment for bug reports.

    python -m mmhybrid.utils.collect_env
"""
import importlib
from importlib import metadata
from collections import OrderedDict

from mmengine.utils.dl_utils import collect_env as collect_base_env


def _version(module: str, dist: str) -> str:
    try:
        importlib.import_module(module)
        return metadata.version(dist)
    except Exception as e:  # report, never fail: this runs in bug reports
        return f'not importable ({type(e).__name__}: {e})'


def _mmcv_ops() -> str:
    try:
        import torch
        from mmcv.ops import RoIAlign, nms
        nms(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([1.]), 0.5)
        RoIAlign((2, 2), 1.0)(torch.ones(1, 1, 4, 4),
                              torch.tensor([[0., 0., 0., 3., 3.]]))
        from mmcv.ops import get_compiler_version, get_compiling_cuda_version
        return (f'ok (compiler {get_compiler_version()}, '
                f'CUDA {get_compiling_cuda_version()})')
    except Exception as e:
        return f'FAILED ({type(e).__name__}: {e})'


def collect_env() -> OrderedDict:
    """Versions of the stack, whether mmcv's compiled ops work, CUDA."""
    env = collect_base_env()
    env.pop('PyTorch compiling details', None)  # pages of build flags
    for module, dist in (('mmhybrid', 'mmhybrid'), ('mmengine', 'mmengine'),
                         ('mmcv', 'mmcv'), ('mmdet', 'mmdet'),
                         ('mmseg', 'mmsegmentation'),
                         ('mmpretrain', 'mmpretrain'), ('numpy', 'numpy'),
                         ('pycocotools', 'pycocotools')):
        env[module] = _version(module, dist)
    env['mmcv ops'] = _mmcv_ops()
    return env


if __name__ == '__main__':
    for k, v in collect_env().items():
        print(f'{k}: {v}')
