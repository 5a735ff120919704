"""Which models and sizes the zoo benchmarks.

Every backbone registered in ``mmhybrid.registry.MODELS`` (a
:class:`BaseBackbone` subclass), at its T/S-scale variants, plus mmdet's
ResNet-50 and Swin-T/S and mmpretrain's ConvNeXt-T/S (:data:`BASELINES`). A
backbone names its zoo variants with a class attribute ``zoo_archs = ('t',
't-gf', ...)``; without it the ``arch_zoo`` keys ``t``/``tiny``/``s``/
``small`` (and their ``-suffix`` forms such as HorNet's ``t-gf``) are taken,
one key per distinct setting, or else the default ``arch``. A new backbone
thus appears without editing the zoo.
"""
import argparse
import fnmatch
import inspect
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..analysis import build_target

#: Arch keys (and their ``key-suffix`` forms) that count as T/S scale.
TS_SCALES = ('t', 'tiny', 's', 'small')


@dataclass
class ZooModel:
    """One row of the zoo: a backbone type with its keyword arguments."""
    name: str
    type: str
    kwargs: Dict = field(default_factory=dict)
    baseline: bool = False

    @property
    def scope(self) -> str:
        return self.type.split('.')[0] if '.' in self.type else 'mmhybrid'

    def build(self):
        """The backbone itself (no head), in train mode."""
        module, _ = build_target(self.type, None, 0, self.kwargs)
        return module


#: The backbones users compare with, as detectors and segmentors use them
#: (all four stage outputs, every stage trained).
BASELINES = [
    ZooModel('ResNet-50', 'mmdet.ResNet',
             dict(depth=50, norm_eval=False), baseline=True),
    ZooModel('Swin-T', 'mmdet.SwinTransformer',
             dict(embed_dims=96, depths=(2, 2, 6, 2),
                  num_heads=(3, 6, 12, 24)), baseline=True),
    ZooModel('Swin-S', 'mmdet.SwinTransformer',
             dict(embed_dims=96, depths=(2, 2, 18, 2),
                  num_heads=(3, 6, 12, 24)), baseline=True),
    ZooModel('ConvNeXt-T', 'mmpretrain.ConvNeXt',
             dict(arch='tiny', out_indices=(0, 1, 2, 3),
                  gap_before_final_norm=False), baseline=True),
    ZooModel('ConvNeXt-S', 'mmpretrain.ConvNeXt',
             dict(arch='small', out_indices=(0, 1, 2, 3),
                  gap_before_final_norm=False), baseline=True),
]


def _canonical_archs(cls) -> List[str]:
    """``arch_zoo`` keys, one per distinct setting (aliases share one), the
    shortest spelling, in ``arch_zoo`` order."""
    zoo = getattr(cls, 'arch_zoo', None) or {}
    groups: List[List[str]] = []
    for key, value in zoo.items():
        for group in groups:
            if zoo[group[0]] == value:
                group.append(key)
                break
        else:
            groups.append([key])
    return [min(g, key=lambda k: (len(k), k)) for g in groups]


def zoo_archs(cls) -> List[Optional[str]]:
    """The variants of backbone class ``cls`` the zoo benchmarks.

    ``cls.zoo_archs`` if the class sets it; else its T/S-scale ``arch_zoo``
    keys; else its default ``arch`` (e.g. ResNet-ACmix's ``'50'``); else
    ``[None]`` (built with its defaults).
    """
    explicit = getattr(cls, 'zoo_archs', None)
    if explicit is not None:
        return list(explicit)
    canonical = _canonical_archs(cls)
    picked = [k for k in canonical if k.lower().split('-')[0] in TS_SCALES]
    if picked:
        return picked
    param = inspect.signature(cls.__init__).parameters.get('arch')
    default = None if param is None or param.default is inspect._empty \
        else param.default
    if isinstance(default, str):
        zoo = getattr(cls, 'arch_zoo', None) or {}
        for key in canonical:
            if zoo.get(key) == zoo.get(default.lower()):
                return [key]
        return [default]
    return canonical[:1] or [None]


def registered_backbones() -> List[Tuple[str, type]]:
    """(name, class) of every concrete backbone mmhybrid ships (a backbone a
    test or user registers into the node elsewhere is left out)."""
    import mmhybrid  # noqa: F401  (registers the backbones)
    from mmhybrid.models.backbones import BaseBackbone
    from mmhybrid.registry import MODELS
    return sorted((name, cls) for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, BaseBackbone)
                  and cls.__module__.startswith('mmhybrid.')
                  and not inspect.isabstract(cls))


def discover(baselines: bool = True) -> List[ZooModel]:
    """Every registered mmhybrid backbone at its zoo variants, then the
    baselines."""
    models = []
    for name, cls in registered_backbones():
        for arch in zoo_archs(cls):
            if arch is None:
                models.append(ZooModel(name, name))
            else:
                models.append(ZooModel(f'{name}-{arch.upper()}', name,
                                       dict(arch=arch)))
    return models + (list(BASELINES) if baselines else [])


def load_spec(path: str) -> List[ZooModel]:
    """Models from a JSON list of ``{"name", "type", "kwargs", "baseline"}``
    (replaces discovery; tests use it for tiny archs)."""
    with open(path) as f:
        return [ZooModel(d['name'], d['type'], dict(d.get('kwargs', {})),
                         bool(d.get('baseline', False)))
                for d in json.load(f)]


def select(models: List[ZooModel],
           patterns: Optional[Sequence[str]]) -> List[ZooModel]:
    """Models whose name matches one of the glob ``patterns`` (any case)."""
    if not patterns:
        return models
    picked = [m for m in models if any(
        fnmatch.fnmatch(m.name.lower(), p.lower()) for p in patterns)]
    if not picked:
        raise SystemExit(f'--models {list(patterns)} match none of '
                         f'{[m.name for m in models]}')
    return picked


def parse_size(text: str) -> Tuple[int, int]:
    """``'512'`` -> (512, 512); ``'800x1216'`` -> (800, 1216) (H x W)."""
    parts = text.lower().split('x')
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f'size must be N or HxW (e.g. 512, 800x1216), got {text!r}')
    h, w = int(parts[0]), int(parts[-1])
    return h, w


def size_label(hw: Tuple[int, int]) -> str:
    return f'{hw[0]}x{hw[1]}'
