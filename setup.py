"""Install mmhybrid (`pip install -e .`); see tools/install.sh for the full stack."""
import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_requirements(name: str) -> list:
    lines = (ROOT / 'requirements' / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines
            if ln.split('#')[0].strip()]


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
