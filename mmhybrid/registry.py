"""mmhybrid's registry nodes, children of MMEngine's roots.

Because they hang under MMEngine's roots, any OpenMMLab 2.x toolbox can build
mmhybrid modules with a scope prefix, e.g. ``type='mmhybrid.HorNet'`` from a
config whose ``default_scope`` is ``mmdet``, ``mmseg`` or ``mmpretrain``.
"""
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='mmhybrid',
    locations=['mmhybrid.models'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmhybrid',
    locations=['mmhybrid.engine'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='mmhybrid',
    locations=['mmhybrid.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='mmhybrid',
    locations=['mmhybrid.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='mmhybrid',
    locations=['mmhybrid.engine'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS,
    scope='mmhybrid', locations=['mmhybrid.models.utils'])
