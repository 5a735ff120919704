"""Importing this package registers every mmhybrid model in MODELS.

Backbones need only torch and mmengine; the necks and heads that extend
mmdet's FPN and mmseg's UPerHead are registered when those are installed.
"""
from .backbones import *  # noqa: F401,F403
from .utils import load_pretrained  # noqa: F401
