"""Whole-model checkpoints in official layouts: the released fine-tuned
detectors and segmentors load wherever mmengine loads a model, with a
``loaded N/M tensors`` report and a floor.

The released models (HorNet's official README: 8 Cascade Mask R-CNN 3x on
COCO, 8 UperNet 160k on ADE20K; SG-Former, HAT-Net/TransCNN and ACmix
released classifiers only) are mmdet 2.x / mmseg 0.x files: ``meta``,
``state_dict`` (backbone keys with the official names), ``optimizer``. The
files here are built in that layout: backbone weights and key names from the
official code (``tests/data/hornet``), head key names as mmdet 2.x / mmseg
0.x name them (``MMDET2_CASCADE`` / ``MMSEG0_UPERNET``, read from their
sources).
"""
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Dict

import pytest
import torch
from mmengine.config import Config

from tests.test_configs import build_meta, load, tiny_overrides, to_cli
from tests.in_process import run_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data', 'hornet')
ENV = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'}

#: The 16 released fine-tuned HorNet models and the configs they go with.
RELEASED = [
    f'configs/hornet/{kind}_hornet_{v}_{sched}.py'
    for kind, sched in (('cascade_mask_rcnn', '3x'), ('upernet', '160k'))
    for v in ('t', 't_gf', 's', 's_gf', 'b', 'b_gf', 'l', 'l_gf')
]

#: Parameter and buffer names of the heads in mmdet 2.x (``FPN``,
#: ``RPNHead``, ``CascadeRoIHead`` with 3 ``ConvFCBBoxHead`` 4conv1fc + SyncBN
#: and 3 ``FCNMaskHead``; mmdet v2.x ``mmdet/models/...``).
MMDET2_CASCADE = [
    r'neck\.(lateral|fpn)_convs\.[0-3]\.conv\.(weight|bias)',
    r'rpn_head\.rpn_(conv|cls|reg)\.(weight|bias)',
    r'roi_head\.bbox_head\.[0-2]\.shared_convs\.[0-3]\.conv\.weight',
    r'roi_head\.bbox_head\.[0-2]\.shared_convs\.[0-3]\.bn\.'
    r'(weight|bias|running_mean|running_var|num_batches_tracked)',
    r'roi_head\.bbox_head\.[0-2]\.shared_fcs\.0\.(weight|bias)',
    r'roi_head\.bbox_head\.[0-2]\.fc_(cls|reg)\.(weight|bias)',
    r'roi_head\.mask_head\.[0-2]\.convs\.[0-3]\.conv\.(weight|bias)',
    r'roi_head\.mask_head\.[0-2]\.(upsample|conv_logits)\.(weight|bias)',
]
_BN = r'(conv\.weight|bn\.(weight|bias|running_mean|running_var|' \
    r'num_batches_tracked))'
#: The same for mmseg 0.x ``UPerHead`` (``PPM``, SyncBN ``ConvModule``s) and
#: the auxiliary ``FCNHead``.
MMSEG0_UPERNET = [
    r'decode_head\.psp_modules\.[0-3]\.1\.' + _BN,
    r'decode_head\.(bottleneck|fpn_bottleneck)\.' + _BN,
    r'decode_head\.(lateral|fpn)_convs\.[0-2]\.' + _BN,
    r'decode_head\.conv_seg\.(weight|bias)',
    r'auxiliary_head\.convs\.0\.' + _BN,
    r'auxiliary_head\.conv_seg\.(weight|bias)',
]


def official_hornet_key(key: str) -> str:
    """Our HorNet key -> the official det/seg name (the stem is
    ``downsample_layers.0``; everything else is named as official)."""
    return re.sub(r'^stem\.', 'downsample_layers.0.', key)


def official_model_file(state_dict: Dict[str, torch.Tensor],
                        scope: str) -> Dict:
    """A checkpoint as mmcv 1.x's runner saves it for mmdet 2.x / mmseg 0.x
    (``meta``, ``state_dict``, ``optimizer``), from our model's state dict:
    backbone keys renamed to the official ones."""
    sd = {(('backbone.' + official_hornet_key(k[len('backbone.'):]))
           if k.startswith('backbone.') else k): v.clone()
          for k, v in state_dict.items()}
    meta = dict(mmcv_version='1.6.0', time='Mon Aug  1 00:00:00 2022',
                epoch=36, iter=263880, config='model = dict()')
    if scope == 'mmdet':
        meta.update(mmdet_version='2.25.0', CLASSES=('person', 'bicycle'))
    else:
        meta.update(mmseg_version='0.27.0', CLASSES=('wall', 'building'),
                    PALETTE=[[120, 120, 120], [180, 120, 120]])
    first = next(v for v in sd.values() if v.is_floating_point())
    optimizer = dict(state={0: dict(step=10, exp_avg=torch.zeros_like(
        first))}, param_groups=[dict(lr=1e-4, weight_decay=0.05, params=[0])])
    return dict(meta=meta, state_dict=sd, optimizer=optimizer)


# --------------------------------------------- the 16 released layouts ---
@pytest.mark.parametrize('path', RELEASED)
def test_released_layout_loads_whole_model(path):
    """Every released model's layout, at full size (meta device): heads
    named as in mmdet 2.x / mmseg 0.x need no renaming, the backbone keys go
    through HorNet.convert_official, and every tensor of the model loads."""
    from mmhybrid.models.utils import (convert_model_state_dict,
                                       match_state_dict)
    cfg = load(path)
    model = build_meta(cfg)
    own = model.state_dict()
    patterns = MMDET2_CASCADE if cfg.default_scope == 'mmdet' \
        else MMSEG0_UPERNET
    heads = [k for k in own if not k.startswith('backbone.')]
    for key in heads:
        assert any(re.fullmatch(p, key) for p in patterns), key
    for p in patterns:
        assert any(re.fullmatch(p, key) for key in heads), p
    official = official_model_file(own, cfg.default_scope)['state_dict']
    _, plain = match_state_dict(own, official)
    assert plain.missing == sorted(
        k for k in own if k.startswith('backbone.stem'))
    _, report = match_state_dict(own, convert_model_state_dict(
        model, official))
    assert len(report.loaded) == report.total, report
    assert not report.unexpected and not report.mismatched


def test_official_det_key_names_are_the_official_code_s():
    """``official_hornet_key`` gives exactly the keys of the official
    detection backbone (the fixture's state dict, from the official code)."""
    from mmhybrid.models import HorNet
    fixture = torch.load(osp.join(DATA, 'hornet_7x7.pt'), weights_only=True)
    model = HorNet(arch=dict(base_dim=4, depths=[1, 1, 2, 1],
                             orders=[2, 3, 4, 5]))
    assert {official_hornet_key(k) for k in model.state_dict()} == \
        set(fixture['state_dict'])


# ------------------------------------------------ load paths, in-process --
def _tiny_detector():
    from mmengine.registry import MODELS, init_default_scope
    cfg = load('configs/hornet/cascade_mask_rcnn_hornet_t_3x.py')
    cfg.merge_from_dict(tiny_overrides(cfg))
    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)


@pytest.mark.parametrize('how', ['torch', 'mmengine', 'hook'])
def test_every_load_path_converts(tmp_path, how):
    """``model.load_state_dict``, mmengine's ``load_checkpoint`` (what
    ``load_from``, ``--resume``, mmdet's ``init_detector`` and the stock
    tools call) and the runner hook all map the official backbone keys."""
    from mmengine.runner.checkpoint import load_checkpoint

    from mmhybrid.models.utils import convert_model_checkpoint
    src, dst = _tiny_detector(), _tiny_detector()
    ckpt = official_model_file(src.state_dict(), 'mmdet')
    if how == 'torch':
        missing, unexpected = dst.load_state_dict(ckpt['state_dict'])
        assert not missing and not unexpected
    elif how == 'mmengine':
        torch.save(ckpt, tmp_path / 'official.pth')
        load_checkpoint(dst, str(tmp_path / 'official.pth'), strict=True)
    else:
        report = convert_model_checkpoint(dst, ckpt)
        assert len(report.loaded) == report.total
        dst.load_state_dict(ckpt['state_dict'])
    _assert_same_weights(src, dst)


def test_already_converted_state_dict_is_untouched(caplog):
    from mmhybrid.models.utils.whole_model import convert_under_prefix
    model = _tiny_detector()
    sd = model.state_dict()
    assert convert_under_prefix(model.backbone, sd, 'backbone.') is None


def test_floor_names_what_did_not_load():
    from mmhybrid.models.utils import convert_model_checkpoint
    from mmhybrid.models.utils.whole_model import check_report
    model = _tiny_detector()
    sd = model.state_dict()
    heads = [k for k in sd if not k.startswith('backbone.')]
    bad = {f'backbone.layers.{i}.w': torch.zeros(1) for i in range(50)}
    bad.update({k: sd[k] for k in heads[:len(heads) // 3]})
    report = convert_model_checkpoint(model, {'state_dict': bad})
    with pytest.raises(RuntimeError) as info:
        check_report(report, 0.9, 'CascadeRCNN')
    msg = str(info.value)
    assert f'Only {len(heads) // 3}/{len(sd)} tensors' in msg
    assert 'backbone.stages (' in msg and 'roi_head.mask_head (' in msg


# ------------------------------------------- the tools, as users run them --
@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    from mmhybrid.utils.toy_data import make_ade, make_coco
    root = tmp_path_factory.mktemp('toy')
    make_coco(str(root / 'coco'), num_train=2, num_val=2)
    make_ade(str(root / 'ade'), num_train=2, num_val=2)
    return dict(mmdet=str(root / 'coco'), mmseg=str(root / 'ade'))


#: the official backbones of the fixtures (official code, random weights;
#: hornet_gf.pt: global filters (14, 8), (7, 4) in stages 2-3)
FIXTURE_ARCH = dict(base_dim=4, depths=[1, 1, 2, 1], orders=[2, 3, 4, 5])


def fixture_overrides(cfg: Config) -> Dict:
    """``tiny_overrides`` with the fixture's official backbone."""
    o = tiny_overrides(cfg)  # keeps the config's global filter sizes
    for k, v in FIXTURE_ARCH.items():
        o[f'model.backbone.arch.{k}'] = v
    dims = [4, 8, 16, 32]
    if cfg.default_scope == 'mmdet':
        o['model.neck.in_channels'] = dims
    else:
        o['model.decode_head.in_channels'] = dims
        o['model.auxiliary_head.in_channels'] = dims[2]
    return o


def released_file(cfg: Config, overrides: Dict, path: str) -> int:
    """Write a released-layout file for the shrunk ``cfg``: the fixture's
    official backbone weights, heads named as mmdet 2.x / mmseg 0.x name
    them. Returns the model's tensor count."""
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config(cfg.to_dict())
    cfg.merge_from_dict(overrides)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    ckpt = official_model_file(model.state_dict(), cfg.default_scope)
    gf = any(model.backbone.arch_settings['gf_sizes'])
    fixture = torch.load(osp.join(DATA, 'hornet_gf.pt' if gf else
                                  'hornet_7x7.pt'), weights_only=True)
    for k, v in fixture['state_dict'].items():
        assert f'backbone.{k}' in ckpt['state_dict'], k
        ckpt['state_dict'][f'backbone.{k}'] = v.float()
    torch.save(ckpt, path)
    return len(model.state_dict())


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True)


def metrics(work_dir) -> Dict:
    import glob
    files = sorted(glob.glob(osp.join(str(work_dir), '*', '*.json')))
    assert files, f'no metrics json under {work_dir}'
    with open(files[-1]) as f:
        return json.loads(f.readlines()[-1])


def run_stock_test(config, overrides, toy, checkpoint, work_dir):
    """The config (with the fixture overrides, on the toy set) through the
    stock ``tools/test.py`` of its scope (mmdet / mmseg), in a fresh process
    that imports mmhybrid only through the config's ``custom_imports``."""
    from mmhybrid.utils.setup_env import set_data_root
    cfg = Config.fromfile(config)
    scope = __import__(cfg.default_scope)
    stock_tool = osp.join(osp.dirname(scope.__file__), '.mim', 'tools',
                          'test.py')
    # the stock tool has no --data-root: point the config at the toy set
    set_data_root(cfg, toy[cfg.default_scope])
    cfg.merge_from_dict(overrides)
    cfg.dump(str(work_dir) + '_config.py')
    return run(stock_tool, str(work_dir) + '_config.py', str(checkpoint),
               '--work-dir', str(work_dir))


@pytest.mark.slow
@pytest.mark.parametrize('config', [
    'configs/hornet/cascade_mask_rcnn_hornet_t_3x.py',
    'configs/hornet/upernet_hornet_t_160k.py'
])
def test_test_tool_evaluates_released_layout(config, toy, tmp_path):
    """``tools/test.py CONFIG RELEASED_FILE`` loads every tensor (the log
    says so); for the detector, the stock mmdet ``tools/test.py`` (through
    the config's ``mmhybrid.CheckpointLoadHook``) gives the same report and
    metrics on the same file."""
    cfg = load(config)
    overrides = fixture_overrides(cfg)
    n = released_file(cfg, overrides, str(tmp_path / 'released.pth'))
    options = ['--data-root', toy[cfg.default_scope], '--cfg-options',
               *to_cli(overrides)]
    ours = run_script('tools/test.py', config, tmp_path / 'released.pth',
                      '--work-dir', tmp_path / 'ours', *options)
    log = ours.stdout + ours.stderr
    assert ours.returncode == 0, log[-5000:]
    assert f'loaded {n}/{n} tensors' in log, log[-5000:]
    # the published figures next to the measured ones (metafile.yml)
    published = ['(published 51.7)', '(published 44.8)'] \
        if cfg.default_scope == 'mmdet' else ['(published 48.1)']
    for figure in published:
        assert figure in log, log[-3000:]
    if cfg.default_scope != 'mmdet':
        return
    # mmdet's own tools/test.py, with the stock pipeline
    stock = run_stock_test(config, overrides, toy, tmp_path / 'released.pth',
                           tmp_path / 'stock')
    assert stock.returncode == 0, (stock.stdout + stock.stderr)[-5000:]
    # the shipped config lists mmhybrid.CheckpointLoadHook: same report
    assert f'loaded {n}/{n} tensors' in stock.stdout + stock.stderr
    assert metrics(tmp_path / 'ours')['coco/bbox_mAP'] == \
        metrics(tmp_path / 'stock')['coco/bbox_mAP']


@pytest.mark.slow
def test_test_tool_refuses_a_partly_random_model(toy, tmp_path):
    """A file whose backbone keys match nothing and which holds a third of
    the head keys stops tools/test.py (and the stock mmdet tool) with an error
    naming what is missing, before any evaluation."""
    config = 'configs/hornet/cascade_mask_rcnn_hornet_t_3x.py'
    cfg = load(config)
    released_path = str(tmp_path / 'released.pth')
    overrides = fixture_overrides(cfg)
    released_file(cfg, overrides, released_path)
    ckpt = torch.load(released_path, weights_only=True)
    sd = ckpt['state_dict']
    heads = [k for k in sd if not k.startswith('backbone.')]
    ckpt['state_dict'] = {
        **{k.replace('backbone.', 'backbone.module_'): v
           for k, v in sd.items() if k.startswith('backbone.')},
        **{k: sd[k] for k in heads[:len(heads) // 3]}}
    torch.save(ckpt, tmp_path / 'bad.pth')
    proc = run_script('tools/test.py', config, tmp_path / 'bad.pth',
                      '--work-dir', tmp_path / 'wd', '--data-root',
                      toy['mmdet'], '--cfg-options', *to_cli(overrides))
    assert proc.returncode != 0
    err = proc.stdout + proc.stderr
    assert 'Only' in err and 'min_match=0.9' in err, err[-3000:]
    assert 'backbone.stages (' in err
    assert 'bbox_mAP' not in err
    # the stock mmdet tools/test.py stops the same way: the shipped config
    # lists mmhybrid.CheckpointLoadHook
    stock = run_stock_test(config, overrides, toy, tmp_path / 'bad.pth',
                           tmp_path / 'stock')
    err = stock.stdout + stock.stderr
    assert stock.returncode != 0
    assert 'Only' in err and 'min_match=0.9' in err, err[-3000:]
    assert 'bbox_mAP' not in err


@pytest.mark.parametrize('config', [
    'configs/hornet/cascade_mask_rcnn_hornet_t_gf_3x.py',
    'configs/hornet/upernet_hornet_t_gf_160k.py'
])
def test_converter_writes_a_stock_loadable_model(config, tmp_path):
    """``convert_checkpoint.py CONFIG RELEASED OUT`` writes the whole model
    in the mmdet 3 / mmseg 1 layout: tensors only (``weights_only=True``),
    exactly the model's keys, so mmengine's stock ``load_checkpoint`` loads
    it strictly with nothing left for mmhybrid's hooks to map."""
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner.checkpoint import load_checkpoint

    from mmhybrid.models.utils.whole_model import convert_under_prefix
    cfg = load(config)
    overrides = fixture_overrides(cfg)
    released = str(tmp_path / 'released.pth')
    released_file(cfg, overrides, released)
    proc = run_script('tools/model_converters/convert_checkpoint.py',
                      config, released, tmp_path / 'out.pth',
                      '--cfg-options', *to_cli(overrides))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    cfg.merge_from_dict(overrides)
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    n = len(model.state_dict())
    assert f'loaded {n}/{n} tensors' in proc.stdout
    out = torch.load(tmp_path / 'out.pth', weights_only=True)
    assert out['state_dict'].keys() == model.state_dict().keys()
    assert convert_under_prefix(model.backbone, out['state_dict'],
                                'backbone.') is None
    load_checkpoint(model, str(tmp_path / 'out.pth'), strict=True)
    official = torch.load(released, weights_only=True)['state_dict']
    torch.testing.assert_close(model.backbone.stem[0].weight,
                               official['backbone.downsample_layers.0.0.'
                                        'weight'])
    # the segmentor's global filters: the file's (14, 8) resized to the
    # config's (24, 13), as the official loader does
    key = 'stages.3.0.gnconv.dwconv.complex_weight'
    assert tuple(official['backbone.' + key].shape[1:3]) == (7, 4)
    assert tuple(model.backbone.state_dict()[key].shape[1:3]) == \
        model.backbone.arch_settings['gf_sizes'][3]
