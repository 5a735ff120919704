"""mmpretrain ImageNet-1k classifiers (``configs/*/*_in1k*.py``).

- Official classification checkpoints, in the official key layout (the
  parity fixtures' official state dicts with their classifiers), load as
  released into the configs' models: backbone, final norm and classifier,
  every tensor.
- Logit parity for every family, in float64: the config's classifier with
  the official file gives the official model's logits on the fixture inputs
  (``FAMILIES[f]['cases']``), and ``tools/test.py <config> <official file>``
  gives the official model's top-1 on an ImageNet-layout toy set (HorNet's
  images; the tool path is the same for every family).
- ViT-LSLA's ImageNet config trains from scratch; mmpretrain's
  ``LearningRateDecayOptimWrapperConstructor`` works with every backbone
  inside ``ImageClassifier``.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
from typing import Callable, Dict

import pytest
import torch
from mmengine.config import Config

from tests.in_process import run_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data')
IN1K_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', '*_in1k*.py')))


def official_classifier(fx: Dict) -> Dict:
    """The official classification state dict of a parity fixture: its
    ``state_dict`` with the classifier (``cls_extra``, where the fixture
    keeps it apart)."""
    return {**fx['state_dict'], **fx.get('cls_extra', {})}


def hmhsa_inputs(fx: Dict, dtype: torch.dtype) -> Dict:
    """HAT-Net / TransCNN fixture inputs: integer draws / 256 from the
    stored seeds (exact in every dtype)."""
    out = {}
    for size, seed in fx['seeds'].items():
        h, w = map(int, size.split('x'))
        g = torch.Generator().manual_seed(seed)
        x = torch.randint(-512, 512, (1, 3, h, w), generator=g) / 256
        assert x.double().sum().item() == fx['input_sums'][size]
        out[size] = x.to(dtype)
    return out


def logits_cases(inputs: Callable) -> Callable:
    """``cases(fx, dtype)`` -> ``{size: (input, official logits)}`` for
    fixtures that keep the logits as ``fx['logits'][size]``."""
    def cases(fx: Dict, dtype: torch.dtype) -> Dict:
        xs = inputs(fx, dtype)
        return {size: (xs[size], ref) for size, ref in fx['logits'].items()}
    return cases


def per_case_logits(inputs: Callable) -> Callable:
    """``cases(fx, dtype)`` for fixtures with ``fx['cases'][size]`` holding
    the official ``logits`` (Swin-ACmix, SG-Former)."""
    def cases(fx: Dict, dtype: torch.dtype) -> Dict:
        return {size: (inputs(case, size, dtype), case['logits'])
                for size, case in fx['cases'].items()}
    return cases


def acmix_input(case: Dict, size: str, dtype: torch.dtype) -> torch.Tensor:
    """ACmix fixture images, (uint8 - 128) / 64: exact in every dtype."""
    images = torch.load(osp.join(DATA, 'acmix', 'inputs.pt'),
                        weights_only=True)['images']
    return (images[size].to(dtype) - 128) / 64


def sgformer_input(case: Dict, size: str,
                   dtype: torch.dtype) -> torch.Tensor:
    """SG-Former fixture inputs: integer draws / 256 from the case seed."""
    g = torch.Generator().manual_seed(case['seed'])
    x = torch.randint(-512, 512, case['shape'], generator=g) / 256
    assert x.double().sum().item() == case['input_sum']
    return x.to(dtype)


def _hornet(gf: bool) -> Dict:
    return dict(
        config='configs/hornet/hornet-tiny{}_8xb128_in1k.py'.format(
            '-gf' if gf else ''),
        fixture='hornet/hornet_gf.pt' if gf else 'hornet/hornet_7x7.pt',
        backbone=lambda cfg: dict(arch=dict(
            base_dim=4, depths=[1, 1, 2, 1], orders=[2, 3, 4, 5],
            gf_sizes=[None, None, (14, 8), (7, 4)] if gf else [None] * 4)),
        # the official classifier: the det fixture's weights without the
        # det output norms, plus the classifier's final norm and head
        official=lambda fx: {
            k: v for k, v in official_classifier(fx).items()
            if not re.match(r'norm\d\.', k)},
        # exact in every dtype: float16 inputs (uint8 images / 255 in the
        # older fixtures, computed in the model's dtype)
        cases=logits_cases(lambda fx, dtype: {
            size: img.to(dtype) / 255 if img.dtype == torch.uint8 else
            img.to(dtype) for size, img in torch.load(
                osp.join(DATA, 'hornet', 'inputs.pt'),
                weights_only=True).items()}))


#: family: what builds its classifier from a parity fixture (tiny official
#: arch) and the official classification state dict stored there.
FAMILIES: Dict[str, Dict[str, Callable]] = {
    'hornet': _hornet(gf=False),
    'hornet_gf': _hornet(gf=True),
    'swin_acmix': dict(
        config='configs/acmix/swin-acmix-tiny_16xb64_in1k.py',
        fixture=('acmix/swin_acmix_fp64.pt', 'acmix/swin_acmix_official.pt'),
        backbone=lambda cfg: dict(
            arch={k: cfg[k] for k in ('embed_dims', 'depths', 'num_heads')},
            window_size=cfg['window_size']),
        official=lambda fx: official_classifier(fx),
        cases=per_case_logits(acmix_input)),
    'sgformer': dict(
        config='configs/sgformer/sgformer-small_8xb128_in1k.py',
        fixture='sgformer/sgformer_official.pt',
        backbone=lambda cfg: dict(arch={
            k: cfg[k] for k in ('embed_dims', 'num_heads', 'depths')}),
        official=lambda fx: {k: v.float() for k, v in
                             official_classifier(fx).items()},
        cases=per_case_logits(sgformer_input)),
    'hatnet': dict(
        config='configs/hatnet/hatnet-tiny_8xb128_in1k.py',
        fixture='hatnet/hatnet_official.pt',
        backbone=lambda cfg: dict(arch={
            k: cfg[k] for k in ('dims', 'head_dim', 'depths', 'expansions',
                                'grid_sizes', 'ds_ratios', 'kernel_sizes')}),
        official=lambda fx: official_classifier(fx),
        cases=logits_cases(hmhsa_inputs)),
    'transcnn': dict(
        config='configs/transcnn/transcnn-tiny_8xb128_in1k-256px.py',
        fixture='hatnet/transcnn_official.pt',
        backbone=lambda cfg: dict(arch={
            'kernel_sizes': [5, 3, 5, 3], **{
                k: cfg[k] for k in ('dims', 'head_dim', 'depths',
                                    'expansions', 'grid_sizes',
                                    'ds_ratios')}}),
        official=lambda fx: official_classifier(fx),
        cases=logits_cases(hmhsa_inputs)),
}
#: official name of each family's linear classifier
HEADS = dict(hornet='head.', hornet_gf='head.', swin_acmix='head.',
             sgformer='head.', hatnet='classifier.1.',
             transcnn='classifier.1.')


def fixture(family: str) -> Dict:
    names = FAMILIES[family]['fixture']
    names = (names, ) if isinstance(names, str) else names
    path = next(osp.join(DATA, n) for n in names
                if osp.isfile(osp.join(DATA, n)))
    return torch.load(path, weights_only=True)


def classifier_overrides(family: str, fx: Dict) -> Dict:
    """Config options: the fixture's official arch, its head's classes."""
    spec = FAMILIES[family]
    official = spec['official'](fx)
    head = official[HEADS[family] + 'weight']
    options = {f'model.backbone.{k}': v
               for k, v in spec['backbone'](fx['config'] if 'config' in fx
                                            else {}).items()}
    options['model.backbone.arch._delete_'] = True
    options['model.backbone.drop_path_rate'] = 0.
    options['model.head.num_classes'] = head.shape[0]
    options['model.head.in_channels'] = head.shape[1]
    return options


def build(family: str, fx: Dict):
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, FAMILIES[family]['config']))
    cfg.merge_from_dict(classifier_overrides(family, fx))
    init_default_scope('mmpretrain')
    return MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_official_classifier_loads_as_released(family):
    """The official file (a bare state dict under ``model`` /
    ``state_dict``) loads into the config's ImageClassifier: every tensor,
    the classifier into ``head.fc``."""
    from mmhybrid.models.utils import convert_model_checkpoint
    fx = fixture(family)
    model = build(family, fx)
    official = FAMILIES[family]['official'](fx)
    checkpoint = {'model': official, 'epoch': 300}
    report = convert_model_checkpoint(model, checkpoint)
    assert len(report.loaded) == report.total, report
    assert not report.mismatched
    missing, unexpected = model.load_state_dict(checkpoint['state_dict'])
    assert not missing and not unexpected
    head = official[HEADS[family] + 'weight']
    torch.testing.assert_close(model.head.fc.weight, head.float())


def fp32_error(fx: Dict, size: str) -> float:
    """The official model's own fp32-vs-fp64 logit error, when the fixture
    records it (``fp32_error[size]['logits']`` or
    ``fp32_error['logits'][size]``), else 1e-6 (fp32 logits of O(1))."""
    err = fx.get('fp32_error', {})
    if isinstance(err.get(size), dict):  # {size: {'logits': e, ...}}
        err = err[size]
    err = err.get('logits', 1e-6)
    if isinstance(err, dict):  # {'logits': {size: e}}
        err = err.get(size, 1e-6)
    return float(err)


@pytest.mark.parametrize('family', sorted(FAMILIES))
def test_logit_parity(family):
    """Our classifier with the official file gives the official logits
    (float64 where the fixture's logits are float64, else fp32 within the
    official model's own fp32 error)."""
    from mmhybrid.models.utils import convert_model_checkpoint
    fx = fixture(family)
    model = build(family, fx)
    checkpoint = {'model': FAMILIES[family]['official'](fx)}
    convert_model_checkpoint(model, checkpoint)
    model.load_state_dict(checkpoint['state_dict'])
    # the smallest case: the backbone parity tests cover every size, this
    # one the classifier around it (final norm, pooling, head)
    size, (x, ref) = min(FAMILIES[family]['cases'](fx, torch.float64).items(),
                         key=lambda item: item[1][0].shape[-2:].numel())
    dtype = ref.dtype
    model.to(dtype)
    with torch.no_grad():
        logits = model(x.to(dtype), mode='tensor')
    tol = 1e-10 if dtype == torch.float64 else 10 * fp32_error(fx, size)
    assert logits.shape == ref.shape
    assert (logits - ref).abs().max() <= tol, size


def test_test_tool_gives_the_official_top1(tmp_path):
    """``tools/test.py hornet-tiny_8xb128_in1k.py <official file>`` on an
    ImageNet-layout toy set gives the top-1 of the official classifier: the
    official weights in our model (equal to the official model's logits,
    ``test_logit_parity``), computed here in-process; half of the images
    are labelled with that prediction, so top-1 must be exactly 50%."""
    import cv2

    from mmhybrid.models.utils import convert_model_checkpoint
    from mmhybrid.utils.toy_data import make_imagenet
    fx = fixture('hornet')
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, num_classes=2, num_train=1, num_val=2, size=(64, 96))
    model = build('hornet', fx)
    checkpoint = {'model': FAMILIES['hornet']['official'](fx)}
    convert_model_checkpoint(model, checkpoint)
    model.load_state_dict(checkpoint['state_dict'])
    with open(osp.join(root, 'meta', 'val.txt')) as f:
        names = [line.split()[0] for line in f if line.strip()]
    labels = []
    for i, name in enumerate(names):
        img = cv2.imread(osp.join(root, 'val', name))[..., ::-1].copy()
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            pred = int(model(x, mode='tensor').argmax())
        labels.append(pred if i % 2 == 0 else (pred + 1) % 10)
    with open(osp.join(root, 'meta', 'val.txt'), 'w') as f:
        f.write(''.join(f'{n} {c}\n' for n, c in zip(names, labels)))
    torch.save({'model': FAMILIES['hornet']['official'](fx)},
               tmp_path / 'hornet_tiny_official.pth')
    overrides = classifier_overrides('hornet', fx)
    overrides.update({
        'test_dataloader.batch_size': 1, 'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
        'test_dataloader.dataset.data_root': root,
        # the fixture's classifier has 10 classes
        'test_dataloader.dataset.metainfo': dict(
            classes=[f'class {i}' for i in range(10)]),
        'test_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'), dict(type='PackInputs')],
        'data_preprocessor.mean': [0, 0, 0],
        'data_preprocessor.std': [255, 255, 255],
        'data_preprocessor.num_classes': 10,
        'test_evaluator.topk': (1, ),
    })
    cfg = Config.fromfile(osp.join(ROOT, FAMILIES['hornet']['config']))
    cfg.merge_from_dict(overrides)
    cfg.dump(str(tmp_path / 'config.py'))
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', str(tmp_path / 'config.py'),
         str(tmp_path / 'hornet_tiny_official.pth'), '--work-dir',
         str(tmp_path / 'wd')], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1'})
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    n = len(model.state_dict())
    assert f'loaded {n}/{n} tensors' in log
    files = sorted(glob.glob(str(tmp_path / 'wd' / '*' / '*.json')))
    metrics = json.loads(open(files[-1]).readlines()[-1])
    assert metrics['accuracy/top1'] == 50


def test_every_in1k_config_is_listed_and_builds():
    """Every family has its released variants (and ViT-LSLA one to
    pre-train), and each model has the official parameter count."""
    from mmengine.registry import MODELS, init_default_scope
    expected = {  # official / computed #params with the 1000-class head
        'hornet-tiny_8xb128_in1k.py': 22409512,
        'hornet-tiny-gf_8xb128_in1k.py': 22991848,
        'hornet-small_8xb64_in1k.py': 49528264,
        'hornet-small-gf_8xb64_in1k.py': 50401768,
        'hornet-base_8xb64_in1k.py': 87256680,
        'hornet-base-gf_8xb64_in1k.py': 88421352,
        'swin-acmix-tiny_16xb64_in1k.py': 28649908,
        'swin-acmix-small_16xb64_in1k.py': 50345080,
        'sgformer-small_8xb128_in1k.py': 22.55e6,
        'sgformer-medium_8xb128_in1k.py': 38.69e6,
        'sgformer-base_8xb128_in1k.py': 77.95e6,
        # the official counts include the unused proj_norm (5.8k-23.6k)
        'hatnet-tiny_8xb128_in1k.py': 12656000 - 5760,
        'hatnet-small_8xb128_in1k.py': 25748000 - 9216,
        'hatnet-medium_8xb128_in1k.py': 42942000 - 16512,
        'hatnet-large_8xb128_in1k.py': 63132000 - 23552,
        'transcnn-tiny_8xb128_in1k-256px.py': 13.316e6,
        'transcnn-small_8xb128_in1k-256px.py': 26.539e6,
        'transcnn-medium_8xb128_in1k-256px.py': 48.323e6,
        'transcnn-large_8xb128_in1k-256px.py': 80.033e6,
        'vit-lsla-tiny_16xb64_in1k.py': None,
    }
    assert sorted(osp.basename(p) for p in IN1K_CONFIGS) == sorted(expected)
    for path in IN1K_CONFIGS:
        cfg = Config.fromfile(osp.join(ROOT, path))
        init_default_scope('mmpretrain')
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        params = sum(p.numel() for p in model.parameters())
        want = expected[osp.basename(path)]
        if want is not None:
            assert abs(params - want) <= 1e3 if want % 1000 else \
                abs(params - want) < 5e3, (path, params, want)
        hooks = [h.type for h in cfg.custom_hooks]
        assert 'mmhybrid.CheckpointLoadHook' in hooks, path


def test_lsla_in1k_trains_from_scratch(tmp_path):
    """A few iterations of ViT-LSLA's ImageNet config from scratch on the
    toy ImageNet layout (tiny backbone, 64-pixel crops), then validation."""
    import math

    from mmengine.runner import Runner

    from mmhybrid.utils.toy_data import make_imagenet
    root = str(tmp_path / 'imagenet')
    make_imagenet(root, num_classes=3, num_train=4, num_val=2)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/lsla/vit-lsla-tiny_16xb64_in1k.py'))
    cfg.model.backbone.arch = dict(embed_dims=8, depths=[2, 1, 1, 1],
                                   num_heads=[1, 1, 1, 1])
    cfg.model.head.in_channels = 64
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(batch_size=4, num_workers=0,
                           persistent_workers=False)
        cfg[loader].dataset.data_root = root
        for t in cfg[loader].dataset.pipeline:
            if t.type in ('RandomResizedCrop', 'ResizeEdge'):
                t.scale = 64 if t.type == 'RandomResizedCrop' else 72
            if t.type == 'CenterCrop':
                t.crop_size = 64
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = cfg.param_scheduler[:1]
    cfg.param_scheduler[0].end = 1
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.launcher = 'none'
    torch.set_num_threads(1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 3  # 12 images, 4 per step
    hub = runner.message_hub
    assert math.isfinite(hub.get_scalar('train/loss').current())
    assert 'val/accuracy/top1' in hub.log_scalars


def test_mmpretrain_layer_decay_with_every_backbone():
    """mmpretrain's LearningRateDecayOptimWrapperConstructor asks the
    ImageClassifier, which asks the backbone ``get_layer_depth(name,
    'backbone.')``: every mmhybrid backbone answers, the head gets the
    full LR and earlier layers smaller ones."""
    from mmengine.registry import MODELS, init_default_scope
    from mmpretrain.engine.optimizers import \
        LearningRateDecayOptimWrapperConstructor

    from tests.test_models.test_backbone_contract import TINY
    init_default_scope('mmpretrain')
    for name, kwargs in TINY.items():
        if name == 'ExampleBackbone':
            continue
        backbone = dict(type=name if '.' in name else f'mmhybrid.{name}',
                        **{**kwargs, 'out_indices': (3, )})
        probe = MODELS.build(dict(backbone))
        model = MODELS.build(dict(
            type='ImageClassifier', backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=5,
                      in_channels=probe.out_channels[-1])))
        optim = LearningRateDecayOptimWrapperConstructor(
            dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
            dict(layer_decay_rate=0.5))(model)
        scale = {g['param_name']: g['lr_scale']
                 for g in optim.optimizer.param_groups}
        assert scale['head.fc.weight'] == 1, name
        stem = [v for k, v in scale.items() if k.startswith(
            ('backbone.stem', 'backbone.patch_embed1'))]
        assert stem and max(stem) < 1, name
        assert min(scale.values()) == min(stem), name


def test_converter_writes_an_mmpretrain_classifier(tmp_path):
    """``convert_checkpoint.py CONFIG OFFICIAL OUT`` keeps the classifier
    and its final norm: the file holds exactly the ImageClassifier's keys
    (``backbone.norm3``, ``head.fc``) and loads strictly, tensors only."""
    from mmengine.runner.checkpoint import load_checkpoint
    fx = fixture('hornet')
    official = FAMILIES['hornet']['official'](fx)
    torch.save({'model': official}, tmp_path / 'official.pth')
    from tests.test_configs import to_cli
    flat = {}
    for key, value in classifier_overrides('hornet', fx).items():
        if isinstance(value, dict):
            flat.update({f'{key}.{k}': v for k, v in value.items()})
        else:
            flat[key] = value
    options = to_cli(flat)
    proc = run_script('tools/model_converters/convert_checkpoint.py',
                      FAMILIES['hornet']['config'], tmp_path / 'official.pth',
                      tmp_path / 'out.pth', '--cfg-options', *options)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    model = build('hornet', fx)
    out = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert out.keys() == model.state_dict().keys()
    torch.testing.assert_close(out['backbone.norm3.weight'],
                               official['norm.weight'])
    torch.testing.assert_close(out['head.fc.weight'], official['head.weight'])
    load_checkpoint(model, str(tmp_path / 'out.pth'), strict=True)
