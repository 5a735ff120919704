"""The GPU path's tools, on CPU: ``tools/misc/gpu_check.py --device cpu
--quick`` (what a GPU machine runs, minus the GPU) and the CUDA toolkit
helper of ``tools/install.sh`` on fake NVIDIA wheel layouts."""
import importlib.util
import os
import os.path as osp
import re
import sys

import pytest
import torch

from mmhybrid.utils.zoo import registered_backbones
from tests.in_process import run_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load(name, *parts):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cuda_toolkit = load('cuda_toolkit', 'tools', 'misc', 'cuda_toolkit.py')


@pytest.mark.slow
def test_gpu_check_quick_on_cpu(tmp_path, monkeypatch):
    """Every section, in this process (its tool runs are children). Not
    the Mask R-CNN quickstart: on CPU it trains without ``--amp``, the run
    of the README's quickstart (``tests/test_readme.py``)."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')  # the tool runs
    proc = run_script('tools/misc/gpu_check.py', '--device', 'cpu',
                      '--quick', '--quickstart', 'semantic_fpn',
                      '--work-dir', tmp_path)
    report = (tmp_path / 'report.md').read_text()
    assert proc.returncode == 0, report + proc.stderr[-3000:]
    assert '**all checks passed**' in report
    for section in ('## mmcv ops', '## Backbones', '## Parity',
                    '## Tools on cpu'):
        assert section in report
    rows = re.findall(r'^\| (\S+) \|', report, re.M)
    for name, _ in registered_backbones():  # a row for each, twice
        assert sum(r.startswith(name + '-') for r in rows) >= 2, name
    assert {'Swin-T', 'ConvNeXt-T'} <= set(rows)
    # tools/train.py --amp without a GPU (the suite's only --amp training):
    # bf16 autocast, 2 iterations, finite loss, validation
    assert re.search(r'semantic_fpn_hornet_toy\.py` --amp, 2 iterations '
                     r'\| \d+ \| loss [0-9.]+, mIoU: [0-9.]+, bfloat16 '
                     r'autocast on CPU \| ok \|', report), report
    assert 'mIoU' in report.split('dist_test.sh')[-1]


def touch(path, text=''):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def test_cuda_home_from_wheels(tmp_path, monkeypatch):
    """CUDA 13 wheels (nvidia/cu13) split over two site-packages, e.g. a
    venv's nvcc beside the system Python's torch wheels."""
    venv, system = tmp_path / 'venv', tmp_path / 'system'
    touch(f'{venv}/nvidia/cu13/bin/nvcc')
    touch(f'{venv}/nvidia/cu13/nvvm/bin/cicc')
    touch(f'{venv}/nvidia/cu13/include/crt/host_config.h')
    touch(f'{system}/nvidia/cu13/include/cublas_v2.h')
    touch(f'{system}/nvidia/cu13/include/crt/other.h')
    touch(f'{system}/nvidia/cu13/lib/libcudart.so.13')
    monkeypatch.setattr(sys, 'path', [str(venv), str(system)])
    monkeypatch.setattr(torch.version, 'cuda', '13.0')
    home = cuda_toolkit.assemble_home(str(tmp_path / 'home'))
    assert osp.realpath(f'{home}/bin/nvcc') == f'{venv}/nvidia/cu13/bin/nvcc'
    assert osp.isfile(f'{home}/nvvm/bin/cicc')
    for header in ('cublas_v2.h', 'crt/host_config.h', 'crt/other.h'):
        assert osp.isfile(f'{home}/include/{header}'), header
    # -lcudart needs the unversioned name
    assert osp.realpath(f'{home}/lib64/libcudart.so') == \
        f'{system}/nvidia/cu13/lib/libcudart.so.13'


def test_cuda_home_toolkit_first(tmp_path, monkeypatch):
    """A system toolkit (nvcc alone, no cuBLAS headers) gets the CUDA 12
    wheels' headers (nvidia/<component>); its own files win."""
    toolkit, site = tmp_path / 'cuda', tmp_path / 'site'
    touch(f'{toolkit}/bin/nvcc')
    touch(f'{toolkit}/include/cuda_runtime.h', 'toolkit')
    touch(f'{toolkit}/lib64/libcudart.so')
    touch(f'{site}/nvidia/cuda_runtime/include/cuda_runtime.h', 'wheel')
    touch(f'{site}/nvidia/cublas/include/cublas_v2.h')
    monkeypatch.setattr(sys, 'path', [str(site)])
    monkeypatch.setattr(torch.version, 'cuda', '12.8')
    home = cuda_toolkit.assemble_home(str(tmp_path / 'home'), str(toolkit))
    assert osp.realpath(f'{home}/bin') == str(toolkit / 'bin')
    with open(f'{home}/include/cuda_runtime.h') as f:
        assert f.read() == 'toolkit'
    assert osp.isfile(f'{home}/include/cublas_v2.h')


def test_nvcc_version_and_arch_list(tmp_path):
    fake = tmp_path / 'nvcc'
    touch(str(fake), '#!/bin/sh\necho "Cuda compilation tools, release '
          '12.4, V12.4.131"\n')
    fake.chmod(0o755)
    assert cuda_toolkit.nvcc_version(str(fake)) == '12.4'
    assert cuda_toolkit.nvcc_version(str(tmp_path / 'missing')) == ''
    if not torch.cuda.is_available():
        assert cuda_toolkit.arch_list() == cuda_toolkit.DEFAULT_ARCH_LIST
