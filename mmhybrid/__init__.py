"""mmhybrid: hybrid CNN/attention backbones for OpenMMLab 2.x.

Use from any mmdet / mmseg / mmpretrain config with::

    custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
    model = dict(backbone=dict(type='mmhybrid.HorNet', arch='t', ...))
"""
from .utils.compat import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

from . import engine, models  # noqa: E402,F401

__all__ = ['__version__']
