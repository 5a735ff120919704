"""Tests of the configs under configs/.

- Every config parses, uses no 2.x keys and imports mmhybrid.
- Every model config (``configs/hornet/``, ``configs/acmix/``,
  ``configs/hatnet/``, ``configs/transcnn/``) is named by the scheme
  ``<framework>_<model>_<variant>[_<neck/head>]_<schedule>.py``,
  and its name agrees with its content (framework, backbone type and arch,
  official checkpoint or none, global-filter sizes, recipe, schedule, batch
  size); the per-model expectations are in ``MODEL_SPECS``.
- Every model builds, with no memory, on the ``meta`` device; its neck/head
  ``in_channels`` equal the backbone's ``out_channels``; the HorNet Cascade
  Mask R-CNN and UperNet models have the official parameter counts.
- One config per family trains for two iterations and validates on the toy
  COCO/ADE20K sets on CPU, with a tiny backbone of the config's type (HorNet:
  the config's orders and global filters, ``base_dim=8``, one block per
  stage; Swin-ACmix: 8 channels, one head; ResNet-ACmix: 8 base channels,
  one bottleneck per stage), small images and few RoIs; ``tools/train.py``
  does the same from the command line for
  ``cascade_mask_rcnn_hornet_s_3x.py``.
"""
import copy
import glob
import math
import os
import os.path as osp
import re
from functools import lru_cache
from typing import Any, Dict, List

import pytest
import torch
from mmengine.config import Config

from tests.in_process import run_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p.split(os.sep))
#: framework: (model type, schedules)
FRAMEWORKS = {
    'mask_rcnn': ('MaskRCNN', {'1x', '3x'}),
    'cascade_mask_rcnn': ('CascadeRCNN', {'3x'}),
    'retinanet': ('RetinaNet', {'1x'}),
    'upernet': ('EncoderDecoder', {'160k'}),
    'semantic_fpn': ('EncoderDecoder', {'80k'}),
}
#: framework: (where, type) of the standard neck / head (no name extra)
STANDARD_HEADS = {
    'mask_rcnn': ('neck', 'FPN'),
    'cascade_mask_rcnn': ('neck', 'FPN'),
    'retinanet': ('bbox_head', 'RetinaHead'),
    'upernet': ('decode_head', 'UPerHead'),
    'semantic_fpn': ('decode_head', 'FPNHead'),
}
SCHEDULES = {'1x': ('max_epochs', 12), '3x': ('max_epochs', 36),
             '80k': ('max_iters', 80000), '160k': ('max_iters', 160000)}
LEGACY_KEYS = ('data', 'lr_config', 'runner', 'optimizer_config', 'fp16')
#: Official pre-trained backbones (HorNet README; L: ImageNet-22k).
CHECKPOINTS = {
    't': 'bac9690c72944d19aca1', 't_gf': '460e759c82324ea6bfa3',
    's': '8ef64277da0e469ea857', 's_gf': '959603ca287d4c09ad49',
    'b': '13a748487711492e9704', 'b_gf': 'c212d1d8a3914b47a5c1',
    'l': 'c2fc23caae084a3aa73d', 'l_gf': '8600206ebdfa485f98d0',
}
#: Official Swin-ACmix ImageNet-1k checkpoints (LeapLabTHU/ACmix README);
#: ResNet-ACmix has none released.
ACMIX_CHECKPOINTS = {'swin_t': '210c89a6f9eb4bd0beb6',
                     'swin_s': '8bed555e75c840f8a00d'}
GF_224 = [None, None, (14, 8), (7, 4)]
GF_384 = [None, None, (24, 13), (12, 7)]
#: #params (M) of the official Cascade Mask R-CNN 3x / UperNet 160k models.
OFFICIAL_PARAMS = {
    ('hornet', 'cascade_mask_rcnn'):
    dict(t=80, t_gf=80, s=107, s_gf=108, b=144, b_gf=146, l=251, l_gf=259),
    ('hornet', 'upernet'):
    dict(t=52, t_gf=55, s=81, s_gf=85, b=121, b_gf=126, l=232, l_gf=239),
}
#: Official ImageNet checkpoints of HAT-Net (v2, README) and TransCNN (v1,
#: README at ecd76b5); never the other version's file (spec §2.1).
HMHSA_CHECKPOINTS = {
    'hatnet': 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
    'HAT-Net_{}.pth',
    'transcnn': 'https://github.com/yun-liu/TransCNN/releases/download/'
    'v1.0/TransCNN-{}.pth',
}
HMHSA_LONG = dict(t='Tiny', s='Small', m='Medium', l='Large')
DET_FAMILIES = ('mask_rcnn_{}_1x', 'mask_rcnn_{}_3x',
                'cascade_mask_rcnn_{}_3x', 'retinanet_{}_1x')
SEG_FAMILIES = ('upernet_{}_160k', 'semantic_fpn_{}_80k')


def _hornet_files() -> set:
    names = {'mask_rcnn_hornet_s_horfpn_1x', 'mask_rcnn_hornet_s_horfpn_gf_1x',
             'upernet_hornet_s_gnhead_160k', 'upernet_hornet_s_gnhead_gf_160k'}
    for v in CHECKPOINTS:
        names |= {f.format(f'hornet_{v}')
                  for f in DET_FAMILIES + SEG_FAMILIES}
    return names


def _acmix_files() -> set:
    names = {f'mask_rcnn_acmix_{v}_1x' for v in ('r26', 'r38')}
    for v in ('r50', 'swin_t', 'swin_s'):
        names |= {f.format(f'acmix_{v}') for f in DET_FAMILIES + SEG_FAMILIES}
    return names


def _lsla_files() -> set:
    return {f.format('lsla_t') for f in DET_FAMILIES + SEG_FAMILIES}


#: Tables of ViT-LSLA that no recipe may decay (the relative position bias
#: table is in the Swin recipes already).
LSLA_NO_DECAY = ('relative_position_bias_table', 'dynamic_scale_table',
                 'outer_bias_table', 'norm', '.bn.')


def _check_lsla(parts: Dict[str, str], cfg: Config) -> None:
    """ViT-LSLA: the Swin-T recipes of mmdet / mmseg, from scratch (no
    weights exist), no weight decay on norms and any of the three tables."""
    backbone = cfg.model.backbone
    assert backbone.type == 'mmhybrid.ViTLSLA'
    assert backbone.arch == parts['variant']
    assert backbone.init_cfg is None
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    for key in LSLA_NO_DECAY:
        assert keys[key] == dict(decay_mult=0.), key


def _hmhsa_files(model: str) -> set:
    return {f.format(f'{model}_{v}') for v in HMHSA_LONG
            for f in DET_FAMILIES + SEG_FAMILIES}


def _check_hmhsa(parts: Dict[str, str], cfg: Config) -> None:
    """HAT-Net / TransCNN: the right version's release, new GN output norms,
    PVT's optimizers for the 1x / Semantic FPN recipes, frozen BN statistics
    (TransCNN detection) or SyncBN (TransCNN segmentation), and DDP without
    find_unused_parameters."""
    model = cfg.model
    backbone = model.backbone
    name, variant = parts['model'], parts['variant']
    seg = model.type == 'EncoderDecoder'
    assert backbone.type == ('mmhybrid.HATNet' if name == 'hatnet' else
                             'mmhybrid.TransCNN')
    assert backbone.arch == variant
    assert backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint=HMHSA_CHECKPOINTS[name].format(HMHSA_LONG[variant]))
    assert backbone.out_norm_cfg == dict(type='GN', num_groups=1, eps=1e-6)
    assert backbone.drop_path_rate == (0.1 if variant in 'ts' else 0.2)
    if name == 'transcnn':
        assert backbone.norm_cfg.type == ('SyncBN' if seg else 'BN')
        assert backbone.norm_eval is (not seg)
    else:
        assert 'norm_cfg' not in backbone
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    framework, schedule = parts['framework'], parts['schedule']
    if schedule == '1x' or framework == 'semantic_fpn':  # PVT's recipes
        assert (optimizer.lr, optimizer.weight_decay) == (1e-4, 1e-4)
    elif framework == 'upernet':
        assert (optimizer.lr, optimizer.weight_decay) == (6e-5, 0.01)
    else:
        assert (optimizer.lr, optimizer.weight_decay) == (1e-4, 0.05)
    assert not cfg.get('find_unused_parameters', False)


def _check_hornet(parts: Dict[str, str], cfg: Config) -> None:
    """HorNet: official recipes, checkpoints and global-filter sizes."""
    model = cfg.model
    backbone = model.backbone
    variant, extra = parts['variant'], parts['extra'] or ''
    seg = model.type == 'EncoderDecoder'
    assert backbone.type == 'mmhybrid.HorNet'
    assert arch_token(backbone.arch) == variant
    assert backbone.init_cfg == dict(
        type='Pretrained',
        checkpoint=f'https://cloud.tsinghua.edu.cn/f/'
        f'{CHECKPOINTS[variant]}/?dl=1')
    gf = GF_384 if seg or variant == 'l_gf' else GF_224
    assert parse_arch(backbone.arch)['gf_sizes'] == \
        (gf if variant.endswith('_gf') else [None] * 4)
    if parts['framework'] == 'mask_rcnn':
        assert model.neck.type == ('mmhybrid.HorFPN' if extra else 'FPN')
    if parts['framework'] == 'upernet':
        assert model.decode_head.type == \
            ('mmhybrid.GNUPerHead' if extra else 'UPerHead')
    if extra:
        gnconv = (model.neck if extra.startswith('horfpn') else
                  model.decode_head).gnconv_cfg
        assert ('gf_size' in gnconv) == extra.endswith('_gf')
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'


def _check_acmix(parts: Dict[str, str], cfg: Config) -> None:
    """ACmix: ResNet-ACmix on mmdet's / mmseg's ResNet-50 recipes (SGD) from
    scratch; Swin-ACmix on their Swin recipes (AdamW, no weight decay on
    norms, position tables and the ACmix mixing scalars) from the official
    ImageNet checkpoints."""
    model = cfg.model
    backbone = model.backbone
    variant = parts['variant']
    seg = model.type == 'EncoderDecoder'
    optimizer = cfg.optim_wrapper.optimizer
    if variant.startswith('r'):
        assert backbone.type == 'mmhybrid.ResNetACmix'
        assert backbone.arch == variant[1:]
        # no released weights: from scratch, and then nothing may stay
        # frozen at its random initialisation
        assert backbone.init_cfg is None
        assert backbone.get('frozen_stages', -1) == -1
        assert backbone.get('norm_eval') is False
        assert backbone.norm_cfg.type == 'SyncBN'
        assert optimizer.type == 'SGD' and optimizer.momentum == 0.9
        assert optimizer.lr == (0.01 if seg or parts['framework'] ==
                                'retinanet' else 0.02)
    else:
        assert backbone.type == 'mmhybrid.SwinACmix'
        assert backbone.arch == variant[-1]
        assert backbone.init_cfg == dict(
            type='Pretrained',
            checkpoint=f'https://cloud.tsinghua.edu.cn/f/'
            f'{ACMIX_CHECKPOINTS[variant]}/?dl=1')
        assert backbone.drop_path_rate == (0.3 if seg else 0.2)
        assert optimizer.type == 'AdamW'
        no_decay = cfg.optim_wrapper.paramwise_cfg.custom_keys
        for key in ('norm', 'relative_position_bias_table', 'rate1', 'rate2'):
            assert no_decay[key] == dict(decay_mult=0.), key


def _sgformer_files() -> set:
    return {f.format(f'sgformer_{v}') for v in ('s', 'm', 'b')
            for f in DET_FAMILIES + SEG_FAMILIES}


def _check_sgformer(parts: Dict[str, str], cfg: Config) -> None:
    """SG-Former: the paper's recipes (Mask R-CNN, UperNet, Semantic FPN),
    Swin's for Cascade and RetinaNet; the official checkpoint (a local file:
    the release is a Google Drive folder); AdamW without weight decay on
    norms and pos_embed."""
    model = cfg.model
    backbone = model.backbone
    variant, framework = parts['variant'], parts['framework']
    assert backbone.type == 'mmhybrid.SGFormer'
    assert backbone.arch == variant
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'checkpoints/sgformer_{variant}.pth')
    assert backbone.drop_path_rate == dict(s=0.1, m=0.2, b=0.4)[variant]
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    lr, wd = dict(upernet=(6e-5, 0.01), semantic_fpn=(1e-4, 1e-4)).get(
        framework, (1e-4, 0.05))
    assert (optimizer.lr, optimizer.weight_decay) == (lr, wd)
    no_decay = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert set(no_decay) == {'pos_embed', 'norm', '.bn.'}
    assert all(v == dict(decay_mult=0.) for v in no_decay.values())
    if framework == 'upernet':  # 1500-iter warm-up, then linear decay
        warmup, decay = cfg.param_scheduler
        assert warmup.type == 'LinearLR' and warmup.end == 1500
        assert decay.type == 'PolyLR' and decay.power == 1.0
        assert cfg.train_dataloader.dataset.pipeline[2].type == \
            'RandomResize'
    if framework == 'mask_rcnn':  # 1x single-scale, 3x 480-800 multi-scale
        pipeline = cfg.train_dataloader.dataset.pipeline
        resize = [t for t in pipeline if t.type == 'Resize']
        if parts['schedule'] == '1x':
            assert resize[0].scale == (1333, 800)
        else:
            choice = [t for t in pipeline if t.type == 'RandomChoice']
            scales = choice[0].transforms[0][0].scales
            assert min(min(s) for s in scales) == 480  # short sides
            assert max(min(s) for s in scales) == 800


#: Per model (the ``<model>`` of the file names): its file-name variants,
#: the neck/head extras each framework may carry, the config files that must
#: exist, the per-GPU batch size of a variant (and whether it is a segmentor)
#: and the check of a config's content against its name.
MODEL_SPECS = {
    'hornet': dict(
        variants=tuple(CHECKPOINTS),
        extras={'mask_rcnn': {'horfpn', 'horfpn_gf'},
                'upernet': {'gnhead', 'gnhead_gf'}},
        files=_hornet_files,
        batch_size=lambda variant, seg: 2,  # 8 GPUs x 2
        check=_check_hornet),
    'acmix': dict(
        variants=('r26', 'r38', 'r50', 'swin_t', 'swin_s'),
        extras={},
        files=_acmix_files,
        # mmseg's ResNet recipes: 4 GPUs x 4; the others 8 GPUs x 2
        batch_size=lambda variant, seg: 4 if seg and variant[0] == 'r' else 2,
        check=_check_acmix),
    'lsla': dict(
        variants=('t', ),
        extras={},
        files=_lsla_files,
        batch_size=lambda variant, seg: 2,  # 8 GPUs x 2
        check=_check_lsla),
    'sgformer': dict(
        variants=('s', 'm', 'b'),
        extras={},
        files=_sgformer_files,
        batch_size=lambda variant, seg: 2,  # 8 GPUs x 2
        check=_check_sgformer),
}
#: mmpretrain classifiers (the paper's own setting), tested on their own.
CLS_CONFIGS = [p for p in CONFIGS
               if osp.basename(p).startswith('classifier_')]
for _model in HMHSA_CHECKPOINTS:
    MODEL_SPECS[_model] = dict(
        variants=tuple(HMHSA_LONG),
        extras={},
        files=lambda _m=_model: _hmhsa_files(_m),
        batch_size=lambda variant, seg: 2,  # 8 GPUs x 2
        check=_check_hmhsa)
MODEL_CONFIGS = [
    p for p in CONFIGS
    if any(p.startswith(f'configs/{m}/') for m in MODEL_SPECS)
    and p not in CLS_CONFIGS and '_in1k' not in p]  # in1k: test_classifiers


def _alternatives(words) -> str:
    """Longest first, so that 't_gf' is tried before 't'."""
    return '|'.join(sorted(set(words), key=lambda w: (-len(w), w)))


_VARIANTS = [v for s in MODEL_SPECS.values() for v in s['variants']]
_EXTRAS = [e for s in MODEL_SPECS.values() for es in s['extras'].values()
           for e in es]
NAME = re.compile(
    rf'^(?P<framework>{_alternatives(FRAMEWORKS)})'
    rf'_(?P<model>{_alternatives(MODEL_SPECS)})'
    rf'_(?P<variant>{_alternatives(_VARIANTS)})'
    rf'(?:_(?P<extra>{_alternatives(_EXTRAS)}))?'
    rf'_(?P<schedule>{_alternatives(SCHEDULES)})\.py$')


@lru_cache(maxsize=None)
def _load(path: str) -> Config:
    return Config.fromfile(osp.join(ROOT, path))


def load(path: str) -> Config:
    return copy.deepcopy(_load(path))


def name_parts(path: str) -> Dict[str, str]:
    match = NAME.match(osp.basename(path))
    assert match, f'{path} does not follow the naming scheme {NAME.pattern}'
    parts = match.groupdict()
    spec = MODEL_SPECS[parts['model']]
    assert parts['variant'] in spec['variants'], parts
    assert (parts['extra'] or '') in \
        spec['extras'].get(parts['framework'], set()) | {''}, parts
    assert path.startswith(f'configs/{parts["model"]}/'), path
    return parts


def parse_arch(arch) -> Dict:
    from mmhybrid.models import HorNet
    arch = HorNet.parse_arch(arch)
    arch['gf_sizes'] = [tuple(s) if s else None
                        for s in arch.get('gf_sizes') or [None] * 4]
    return arch


def arch_token(arch) -> str:
    """'s-gf', dict(base='s-gf', ...) -> 's_gf'."""
    base = arch if isinstance(arch, str) else arch.get('base', '')
    return base.replace('-', '_')


def build_meta(cfg: Config) -> torch.nn.Module:
    """Build the whole model with parameters on the meta device."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(cfg.default_scope)
    with torch.device('meta'):
        return MODELS.build(cfg.model)


def consumers(model_cfg) -> List[tuple]:
    """(name, in_channels, in_index) of what reads the backbone's outputs."""
    if model_cfg.type == 'ImageClassifier':  # pooled last output
        return [('head', [model_cfg.head.in_channels], None)]
    if model_cfg.get('neck'):
        neck = model_cfg.neck
        return [('neck', list(neck.in_channels), None)]
    out = []
    for name in ('decode_head', 'auxiliary_head'):
        head = model_cfg.get(name)
        if head:
            out.append((name, head.in_channels, head.in_index))
    return out


# ------------------------------------------------------- every config ----
@pytest.mark.parametrize('path', CONFIGS)
def test_config_parses_without_legacy_keys(path):
    cfg = _load(path)
    assert not [k for k in LEGACY_KEYS if k in cfg], \
        f'{path} has mmcv 1.x keys'
    assert cfg.model.get('pretrained') is None, \
        'use backbone init_cfg, not model.pretrained'
    imports = cfg.custom_imports.imports
    assert 'mmhybrid' in ([imports] if isinstance(imports, str) else imports)
    assert cfg.custom_imports.allow_failed_imports is False
    # the stock tools floor whole-model loading too (issue 16)
    assert any(h.type == 'mmhybrid.CheckpointLoadHook'
               for h in cfg.get('custom_hooks', [])), \
        f'{path} has no mmhybrid.CheckpointLoadHook in custom_hooks'


@pytest.mark.parametrize('path', CONFIGS)
def test_model_builds_and_channels_match(path):
    cfg = _load(path)
    model = build_meta(cfg)
    backbone = model.backbone
    if not cfg.model.backbone.type.startswith('mmhybrid.'):
        pytest.skip('channel check needs an mmhybrid backbone')
    out_channels = backbone.out_channels
    for name, in_channels, in_index in consumers(cfg.model):
        if in_index is None:
            expected = out_channels
        elif isinstance(in_index, int):
            expected = out_channels[in_index]
        else:
            expected = [out_channels[i] for i in in_index]
        assert in_channels == expected, \
            f'{name}.in_channels {in_channels} != backbone {expected}'
    parts = NAME.match(osp.basename(path))
    key = parts and (parts['model'], parts['framework'])
    if key in OFFICIAL_PARAMS and not parts['extra']:
        official = OFFICIAL_PARAMS[key][parts['variant']]
        params = sum(p.numel() for p in model.parameters())
        assert round(params / 1e6) == official, (params, official)


# ------------------------------------------------ HorNet / ACmix configs ---
@pytest.mark.parametrize('model', sorted(MODEL_SPECS))
def test_every_variant_and_family_exists(model):
    names = {osp.basename(p)[:-3] for p in MODEL_CONFIGS
             if p.startswith(f'configs/{model}/')}
    expected = MODEL_SPECS[model]['files']()
    assert names == expected, (names - expected, expected - names)


def effective_epochs(cfg: Config) -> int:
    """Epochs over the dataset (mmdet's 3x ResNet recipes repeat it 3x)."""
    dataset = cfg.train_dataloader.dataset
    times = dataset.times if dataset.type == 'RepeatDataset' else 1
    return cfg.train_cfg.max_epochs * times


@pytest.mark.parametrize('path', MODEL_CONFIGS)
def test_name_agrees_with_content(path):
    parts = name_parts(path)
    cfg = _load(path)
    model = cfg.model
    model_type, schedules = FRAMEWORKS[parts['framework']]
    assert model.type == model_type
    assert parts['schedule'] in schedules
    key, value = SCHEDULES[parts['schedule']]
    assert (effective_epochs(cfg) if key == 'max_epochs' else
            cfg.train_cfg[key]) == value
    if not parts['extra']:
        where, head_type = STANDARD_HEADS[parts['framework']]
        assert model[where].type == head_type

    # backbone, checkpoint, recipe: per model
    spec = MODEL_SPECS[parts['model']]
    spec['check'](parts, cfg)

    # 16 images per iteration (8 GPUs x 2, or 4 x 4 for mmseg's ResNets),
    # fp32 (--amp for mixed precision)
    seg = model_type == 'EncoderDecoder'
    assert cfg.train_dataloader.batch_size == \
        spec['batch_size'](parts['variant'], seg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    if not seg:
        assert cfg.auto_scale_lr.base_batch_size == 16


# ------------------------------------------------------- tiny training ---
def _shrink(value, factor: int):
    """(w, h) or [(w, h), ...] -> the same divided by ``factor``."""
    if isinstance(value, (list, tuple)) and value and \
            isinstance(value[0], (list, tuple)):
        return [_shrink(v, factor) for v in value]
    return tuple(max(1, int(v) // factor) for v in value)


def _walk(node: Any, path: str, visit) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            visit(node, k, f'{path}.{k}')
            _walk(v, f'{path}.{k}', visit)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _walk(v, f'{path}.{i}', visit)


def tiny_arch(backbone) -> Dict[str, Any]:
    """A tiny arch dict of the config's backbone type (same structure)."""
    kind = backbone.type.split('.')[-1]
    if kind == 'HorNet':  # the config's orders and global filters
        arch = parse_arch(backbone.arch)
        return dict(base_dim=8, depths=[1, 1, 1, 1],
                    orders=list(arch['orders']), gf_sizes=arch['gf_sizes'])
    if kind == 'SwinACmix':  # two blocks in stage 0: a shifted one too
        return dict(embed_dims=8, depths=[2, 1, 1, 1], num_heads=[1, 1, 1, 1])
    if kind == 'ResNetACmix':
        return dict(depths=[1, 1, 1, 1], base_channels=8)
    if kind == 'ViTLSLA':  # two blocks in stage 0: a shifted one too
        return dict(embed_dims=8, depths=[2, 1, 1, 1], num_heads=[1, 1, 1, 1])
    if kind in ('HATNet', 'TransCNN'):  # the variant's grids and ratios
        return dict(dims=[8, 16, 32, 48], head_dim=8, depths=[1, 1, 1, 1],
                    expansions=[2, 2, 2, 2])
    if kind == 'SGFormer':  # one HS + SG pair per stage
        return dict(embed_dims=[8, 16, 16, 16], num_heads=[2, 2, 2, 2],
                    depths=[2, 2, 2, 1])
    raise NotImplementedError(f'no tiny arch for {backbone.type}')


def build_backbone_meta(backbone_cfg) -> torch.nn.Module:
    from mmhybrid.registry import MODELS
    with torch.device('meta'):
        return MODELS.build(dict(backbone_cfg))


WIDTH_KEYS = ('in_channels', 'out_channels', 'feat_channels', 'channels',
              'conv_out_channels', 'fc_out_channels')


def tiny_overrides(cfg: Config, factor: int = 8) -> Dict[str, Any]:
    """``--cfg-options`` (flat keys, list indices allowed) that keep a
    config's structure but make it run in seconds on CPU: a tiny backbone
    of the config's type (:func:`tiny_arch`), neck and head widths,
    images and crops divided by ``factor``, few proposals and RoIs, two
    training iterations (one epoch of the 4-image toy set for det) and a
    validation."""
    o = {}
    model = cfg.model

    def narrower(node, key, path):  # neck and head widths / factor
        value = node[key]
        if key in WIDTH_KEYS and not path.startswith('model.backbone.'):
            if isinstance(value, int):
                o[path] = max(8, value // factor)
            elif isinstance(value, (list, tuple)):
                o[path] = [max(8, v // factor) for v in value]

    _walk(model, 'model', narrower)
    arch = tiny_arch(model.backbone)
    o['model.backbone.arch._delete_'] = True
    for k, v in arch.items():
        o[f'model.backbone.arch.{k}'] = v
    o['model.backbone.init_cfg'] = None
    out_channels = build_backbone_meta(
        dict(model.backbone, arch=arch, init_cfg=None)).out_channels
    for name, _, in_index in consumers(model):
        o[f'model.{name}.in_channels'] = \
            out_channels if in_index is None else \
            out_channels[in_index] if isinstance(in_index, int) else \
            [out_channels[i] for i in in_index]

    def shrink_sizes(node, key, path):
        if key in ('scale', 'scales', 'crop_size') and \
                isinstance(node[key], (list, tuple)):
            o[path] = _shrink(node[key], factor)

    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        _walk(cfg[loader].dataset.pipeline, f'{loader}.dataset.pipeline',
              shrink_sizes)
        o[f'{loader}.num_workers'] = 0
        o[f'{loader}.persistent_workers'] = False
    if model.data_preprocessor.get('size'):
        o['model.data_preprocessor.size'] = _shrink(
            model.data_preprocessor.size, factor)
    if model.test_cfg.get('mode') == 'slide':
        o['model.test_cfg.crop_size'] = _shrink(model.test_cfg.crop_size,
                                                factor)
        o['model.test_cfg.stride'] = _shrink(model.test_cfg.stride, factor)

    def fewer_rois(node, key, path):
        limits = dict(nms_pre=128, max_per_img=32, num=32)
        if key in limits and isinstance(node[key], int) and \
                (key != 'num' or path.split('.')[-2] == 'sampler'):
            o[path] = min(node[key], limits[key])
        if key == 'score_thr':  # untrained: keep detections for the metric
            o[path] = 0.

    for part in ('train_cfg', 'test_cfg'):
        if model.get(part):
            _walk(model[part], f'model.{part}', fewer_rois)

    if cfg.train_cfg.type == 'EpochBasedTrainLoop':
        o['train_cfg.max_epochs'] = 1
        o['train_cfg.val_interval'] = 1
    else:
        o['train_cfg.max_iters'] = 2
        o['train_cfg.val_interval'] = 2
    o['default_hooks.logger.interval'] = 1
    return o


def to_cli(overrides: Dict[str, Any]) -> List[str]:
    """``key=value`` strings that ``DictAction`` parses back."""

    def fmt(v):
        if isinstance(v, tuple):
            end = ',)' if len(v) == 1 else ')'
            return '(' + ','.join(fmt(x) for x in v) + end
        if isinstance(v, list):
            return '[' + ','.join(fmt(x) for x in v) + ']'
        return str(v)

    return [f'{k}={fmt(v)}' for k, v in overrides.items()]


@pytest.fixture(scope='module')
def toy_roots(tmp_path_factory):
    from mmhybrid.utils.toy_data import make_ade, make_coco
    root = tmp_path_factory.mktemp('toy')
    make_coco(str(root / 'coco'), num_train=4, num_val=2)
    make_ade(str(root / 'ade'), num_train=4, num_val=2)
    return dict(mmdet=str(root / 'coco'), mmseg=str(root / 'ade'))


#: One config per family (GF variants where there is one, so that the
#: global filters are resized to the toy feature maps), and for ACmix a
#: detector and a segmentor with each backbone.
FAMILY_CONFIGS = [
    'configs/hornet/mask_rcnn_hornet_t_1x.py',
    'configs/hornet/cascade_mask_rcnn_hornet_t_gf_3x.py',
    'configs/hornet/retinanet_hornet_t_1x.py',
    'configs/hornet/mask_rcnn_hornet_s_horfpn_gf_1x.py',
    'configs/hornet/upernet_hornet_t_gf_160k.py',
    'configs/hornet/semantic_fpn_hornet_t_80k.py',
    'configs/hornet/upernet_hornet_s_gnhead_gf_160k.py',
    'configs/acmix/mask_rcnn_acmix_swin_t_1x.py',
    'configs/acmix/retinanet_acmix_r50_1x.py',
    'configs/acmix/upernet_acmix_r50_160k.py',
    'configs/acmix/semantic_fpn_acmix_swin_t_80k.py',
    'configs/lsla/mask_rcnn_lsla_t_1x.py',
    'configs/lsla/upernet_lsla_t_160k.py',
    'configs/hatnet/mask_rcnn_hatnet_t_1x.py',
    'configs/transcnn/semantic_fpn_transcnn_t_80k.py',
    'configs/sgformer/mask_rcnn_sgformer_s_1x.py',
    'configs/sgformer/upernet_sgformer_s_160k.py',
]
VAL_METRICS = {'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


@pytest.fixture
def one_thread():
    """Tiny models run faster (and steadier on shared cores) on 1 thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('path', FAMILY_CONFIGS)
def test_family_trains_and_validates(path, toy_roots, tmp_path, one_thread):
    from mmengine.runner import Runner

    from mmhybrid.utils.setup_env import set_data_root
    cfg = load(path)
    cfg.merge_from_dict(tiny_overrides(cfg))
    set_data_root(cfg, toy_roots[cfg.default_scope])
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    hub = runner.message_hub
    assert math.isfinite(hub.get_scalar('train/loss').current())
    metric = f'val/{VAL_METRICS[cfg.default_scope]}'
    assert metric in hub.log_scalars, sorted(hub.log_scalars)
    assert math.isfinite(hub.get_scalar(metric).current())


#: SG-Former's config runs through the tool with its full backbone and
#: official weights in test_sgformer_train_command_with_official_weights.
@pytest.mark.parametrize('config', [
    'configs/hornet/cascade_mask_rcnn_hornet_s_3x.py',
])
def test_train_tool_runs_cascade_s_3x(config, toy_roots, tmp_path):
    """The documented command, on the toy COCO set with a tiny backbone of
    the config's type."""
    options = to_cli(tiny_overrides(load(config)))
    proc = run_script('tools/train.py', config, '--work-dir', tmp_path,
                      '--data-root', toy_roots['mmdet'], '--cfg-options',
                      *options)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'Epoch(train) [1][2/2]' in log, log[-3000:]
    assert 'coco/bbox_mAP' in log
    assert osp.exists(tmp_path / 'epoch_1.pth')


def test_sgformer_train_command_with_official_weights(toy_roots, tmp_path):
    """``tools/train.py configs/sgformer/mask_rcnn_sgformer_s_1x.py
    --data-root <toy coco>`` with the released weights where the config
    looks for them (``checkpoints/sgformer_s.pth``, relative to the working
    directory; the release is on Google Drive only): the full SG-Former-S
    loads an official-format file (timm CheckpointSaver: ``state_dict_ema``
    wins, top-level ``pos_embed``, ``head.*``, pickled ``args``) with every
    tensor matched, and trains. Only image sizes, neck/head widths and the
    schedule are shrunk; the backbone and its ``init_cfg`` are the config's.
    """
    import argparse

    from mmhybrid.models import SGFormer
    state = SGFormer(arch='s').state_dict()
    official = {('pos_embed' if k == 'patch_embed1.pos_embed' else k): v
                for k, v in state.items()}
    official.update({'head.weight': torch.zeros(1000, 512),
                     'head.bias': torch.zeros(1000)})
    (tmp_path / 'checkpoints').mkdir()
    torch.save(dict(state_dict=official, state_dict_ema=official, epoch=299,
                    args=argparse.Namespace(model='sgformer_s')),
               tmp_path / 'checkpoints' / 'sgformer_s.pth')
    config = 'configs/sgformer/mask_rcnn_sgformer_s_1x.py'
    cfg = load(config)
    skip = {f'model.{name}.in_channels' for name, _, _ in consumers(cfg.model)}
    options = {k: v for k, v in tiny_overrides(cfg).items()
               if not k.startswith('model.backbone.') and k not in skip}
    proc = run_script('tools/train.py', osp.join(ROOT, config), '--work-dir',
                      tmp_path / 'work', '--data-root', toy_roots['mmdet'],
                      '--cfg-options', *to_cli(options), cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    n = len(state)
    assert f'loaded {n}/{n} tensors' in log, log[-5000:]
    assert 'Epoch(train) [1][2/2]' in log, log[-3000:]
    assert 'coco/bbox_mAP' in log


# ------------------------------------------------------- classifiers -----
def test_classifier_configs():
    """The paper's setting: 100 / 102 classes, ViT-LSLA-T, class folders,
    no weight decay on the LSLA tables."""
    assert sorted(osp.basename(p) for p in CLS_CONFIGS) == [
        'classifier_lsla_t_ip102_300e.py',
        'classifier_lsla_t_mini_imagenet_300e.py']
    for path in CLS_CONFIGS:
        cfg = _load(path)
        classes = 102 if 'ip102' in path else 100
        assert cfg.model.head.num_classes == classes
        assert cfg.data_preprocessor.num_classes == classes
        assert cfg.model.backbone.type == 'mmhybrid.ViTLSLA'
        for loader in ('train_dataloader', 'val_dataloader'):
            assert cfg[loader].dataset.type == 'CustomDataset'
            assert cfg[loader].dataset.data_root == cfg.data_root
        keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
        for key in TABLE_KEYS:
            assert keys[key] == dict(decay_mult=0.), key


TABLE_KEYS = ('.relative_position_bias_table', '.dynamic_scale_table',
              '.outer_bias_table')


def test_classifier_trains_on_a_class_folder(tmp_path, one_thread):
    """A few steps of the Mini-ImageNet config on a generated class folder
    (tiny backbone, 64-pixel crops), then a validation."""
    from mmengine.runner import Runner

    from mmhybrid.utils.setup_env import set_data_root
    from mmhybrid.utils.toy_data import make_cls_folder
    root = str(tmp_path / 'cls')
    make_cls_folder(root, num_classes=3, num_train=4, num_val=2)
    cfg = load('configs/lsla/classifier_lsla_t_mini_imagenet_300e.py')
    cfg.model.backbone.arch = tiny_arch(cfg.model.backbone)
    cfg.merge_from_dict({
        'model.head.in_channels': 64,
        'train_dataloader.batch_size': 4,
        'val_dataloader.batch_size': 4,
        'test_dataloader.batch_size': 4,
        'train_cfg.max_epochs': 1,
        'default_hooks.logger.interval': 1,
    })
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        for t in cfg[loader].dataset.pipeline:
            if t.type in ('RandomResizedCrop', 'ResizeEdge'):
                t.scale = 64 if t.type == 'RandomResizedCrop' else 72
            if t.type == 'CenterCrop':
                t.crop_size = 64
    assert set_data_root(cfg, root) >= 2
    # one epoch: the warm-up only (the cosine phase starts at epoch 20)
    cfg.param_scheduler = cfg.param_scheduler[:1]
    cfg.param_scheduler[0].end = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3  # 12 images, 4 per step
    hub = runner.message_hub
    assert math.isfinite(hub.get_scalar('train/loss').current())
    assert 'val/accuracy/top1' in hub.log_scalars, sorted(hub.log_scalars)
