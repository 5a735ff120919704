"""Install mmhybrid (`pip install -e .`); see tools/install.sh for the full stack."""
import os
import platform
import re
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_requirements(name: str) -> list:
    lines = (ROOT / 'requirements' / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines
            if ln.split('#')[0].strip()]


def add_mim_extension() -> None:
    """Ship ``configs/``, ``tools/`` and ``model-index.yml`` in
    ``mmhybrid/.mim`` as OpenMMLab packages do, so that openmim finds the
    model index (``mim search mmhybrid``) and the configs of an installed
    mmhybrid: symlinks for an editable install, copies for a wheel/sdist."""
    if any(c in sys.argv for c in ('develop', 'editable_wheel')):
        mode = 'copy' if platform.system() == 'Windows' else 'symlink'
    elif any(c in sys.argv for c in ('sdist', 'bdist_wheel', 'build',
                                     'install', 'build_py')):
        mode = 'copy'
    else:
        return
    mim = ROOT / 'mmhybrid' / '.mim'
    mim.mkdir(exist_ok=True)
    for name in ('configs', 'tools', 'model-index.yml'):
        src, dst = ROOT / name, mim / name
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        elif dst.is_dir():
            shutil.rmtree(dst)
        if mode == 'symlink':
            dst.symlink_to(os.path.relpath(src, mim))
        elif src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


add_mim_extension()
version = re.search(r"__version__ = '([^']+)'",
                    (ROOT / 'mmhybrid' / 'version.py').read_text()).group(1)

setup(
    name='mmhybrid',
    version=version,
    description='Hybrid CNN/attention backbones (HorNet, ACmix, SG-Former, '
    'TransCNN, ViT-LSLA) for OpenMMLab 2.x detection and segmentation',
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmhybrid', 'mmhybrid.*']),
    include_package_data=True,
    python_requires='>=3.8',
    # mmcv (with ops) is built by tools/install.sh; mmdet/mmseg/mmpretrain are
    # optional for the backbones themselves.
    install_requires=['mmengine>=0.10.0,<1.0.0', 'torch>=2.5'],
    extras_require={
        'det': ['mmdet>=3.0.0', 'pycocotools'],
        'seg': ['mmsegmentation>=1.0.0'],
        'all': read_requirements('runtime.txt'),
        'tests': read_requirements('tests.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False)
