"""Importing this package registers every mmhybrid model in MODELS.

Backbones need only torch and mmengine; the necks and heads that extend
mmdet's FPN, mmseg's UPerHead and mmpretrain's LinearClsHead are registered
when those are installed.
"""
import importlib
import importlib.util
import warnings

from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .utils import load_pretrained  # noqa: F401


def _importable(package: str) -> bool:
    """Whether ``package.models`` imports; warn if installed but broken."""
    if importlib.util.find_spec(package) is None:
        return False
    try:
        importlib.import_module(f'{package}.models')
    except Exception as e:  # e.g. an mmcv version that mmdet rejects
        warnings.warn(f'mmhybrid: {package} is installed but `import '
                      f'{package}.models` failed ({type(e).__name__}: {e}); '
                      f'its mmhybrid modules are not registered')
        return False
    return True


if _importable('mmdet'):
    from .necks import *  # noqa: F401,F403
if _importable('mmseg'):
    from .decode_heads import *  # noqa: F401,F403
if _importable('mmpretrain'):
    from .cls_heads import *  # noqa: F401,F403
