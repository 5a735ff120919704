"""Whole-model ONNX export: ``tools/deployment/pytorch2onnx.py`` as users run
it, on shipped configs with a tiny backbone of the config's type, checked
in ONNX Runtime against PyTorch (raw head outputs, and the model's own
post-processing on toy images)."""
import glob
import importlib.util
import os
import os.path as osp
import re
from typing import Optional

import pytest
import torch
from mmengine.registry import MODELS, init_default_scope

from tests.in_process import run_script
from tests.test_configs import load, tiny_overrides, to_cli
from tests.test_whole_model import official_model_file

pytest.importorskip('onnxruntime')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = 'tools/deployment/pytorch2onnx.py'
#: One whole model per other backbone family (README, Whole models): ~1 min
#: of CPU each, so only with ``MMHYBRID_DEPLOY_ALL=1``.
DEPLOY_ALL = os.environ.get('MMHYBRID_DEPLOY_ALL') == '1'


def tiny_model(path: str, extra: dict):
    """A shipped config with a tiny backbone, narrow heads and the toy
    images' test size, the options to give the tool, and the model
    (initialised; HorNet's layer scales at 1 so that the backbone
    matters)."""
    cfg = load(path)
    options = {k: v for k, v in tiny_overrides(cfg).items()
               if k.startswith(('model.', 'test_dataloader.dataset.'))
               and 'score_thr' not in k}
    options.update(extra)
    cfg.merge_from_dict(options)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    for name, p in model.named_parameters():
        if 'gamma' in name:
            p.data.fill_(1.)
    return model.eval(), to_cli(options)


#: With :func:`decisive_retina_head`: decisive RetinaNet scores.
DECISIVE_RETINA = {'model.bbox_head.num_classes': 3,
                   'model.test_cfg.score_thr': 0.15,
                   'model.test_cfg.max_per_img': 100}


def decisive_retina_head(model, cls_std: float = 0.03,
                         cls_bias: Optional[float] = None) -> None:
    """Decisive scores: a head that passes its features on (kaiming-normal
    tower; the default init gives ~0.01 everywhere, i.e. only near-ties)
    and the toy set's 3 classes (:data:`DECISIVE_RETINA`), so that a 1e-7
    rounding difference cannot move a detection across the score threshold
    or the top-k."""
    for conv in model.bbox_head.cls_convs:
        torch.nn.init.kaiming_normal_(conv.conv.weight)
    head = model.bbox_head.retina_cls
    torch.nn.init.normal_(head.weight, std=cls_std)
    if cls_bias is not None:
        torch.nn.init.constant_(head.bias, cls_bias)


def run_tool(config: str, checkpoint: str, out: str, images, options,
             *args) -> str:
    proc = run_script(TOOL, config, checkpoint, '--output-file', out,
                      '--input-img', *images, *args, '--cfg-options',
                      *options)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    assert 'check passed' in log, log[-3000:]
    return log


def raw_diffs(log: str) -> list:
    return [float(d) for d in re.findall(
        r'raw outputs at \(\d+, \d+\): ONNX Runtime vs PyTorch max abs '
        r'diff (\S+)', log)]


def same_file_outputs(model, onnx_file: str, size) -> None:
    """The file gives this process's model's raw outputs: the tool loaded
    the checkpoint (converted from the official layout) into the same
    weights."""
    from mmhybrid.utils.deploy import RawOutputs, onnx_runner
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        ref = RawOutputs(model)(x)
    outs = onnx_runner(onnx_file)(x)
    assert len(outs) == len(ref)
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r, rtol=0, atol=1e-4)


@pytest.fixture(scope='module')
def toy_images(tmp_path_factory):
    from mmhybrid.utils.toy_data import make_ade, make_coco
    root = tmp_path_factory.mktemp('toy')
    make_coco(str(root / 'coco'), num_train=1, num_val=2)
    make_ade(str(root / 'ade'), num_train=1, num_val=2)
    return dict(
        mmdet=sorted(glob.glob(str(root / 'coco' / 'val2017' / '*.jpg'))),
        mmseg=sorted(glob.glob(
            str(root / 'ade' / 'images' / 'validation' / '*.jpg'))))


@pytest.mark.slow
def test_retinanet_dynamic_official_layout(toy_images, tmp_path):
    """RetinaNet to its 10 raw score / box maps, H and W symbolic, from an
    mmdet 2.x-layout checkpoint (official backbone key names): ORT = PyTorch
    within 1e-4 at six sizes, the same detections on the toy images."""
    config = 'configs/hornet/retinanet_hornet_t_1x.py'
    model, options = tiny_model(config, DECISIVE_RETINA)
    decisive_retina_head(model)
    ckpt = str(tmp_path / 'retinanet.pth')
    torch.save(official_model_file(model.state_dict(), 'mmdet'), ckpt)
    onnx_file = str(tmp_path / 'retinanet.onnx')
    log = run_tool(config, ckpt, onnx_file, toy_images['mmdet'], options,
                   '--shape', '256', '320', '--dynamic', '--max-size',
                   '512')
    assert 'RetinaNet: loaded 142/142 tensors' in log
    assert 'outputs cls_score.0, ' in log and ', bbox_pred.4\n' in log
    diffs = raw_diffs(log)
    assert len(diffs) == 6 and max(diffs) <= 1e-4, diffs
    checks = re.findall(r'vs model\.predict: detections (\d+), count 1\.?0*,',
                        log)
    assert len(checks) == 2 and all(int(n) > 0 for n in checks), log[-2000:]
    same_file_outputs(model, onnx_file, (97, 131))


@pytest.mark.slow
def test_upernet_dynamic_sliding_windows(toy_images, tmp_path):
    """UperNet to its logits, H and W symbolic (the PPM's adaptive pools
    swapped for ``BinnedAdaptiveAvgPool2d`` during export): ORT = PyTorch
    within 1e-4 at six sizes, down to 64x64 (a 2x2 map at stride 32, under
    the PPM's 3 and 6 bins), and the same segmentation maps on the toy
    images, each run as several sliding-window crops through the file."""
    config = 'configs/hornet/upernet_hornet_t_160k.py'
    model, options = tiny_model(config, {})
    crop = model.test_cfg.crop_size
    ckpt = str(tmp_path / 'upernet.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    onnx_file = str(tmp_path / 'upernet.onnx')
    log = run_tool(config, ckpt, onnx_file, toy_images['mmseg'], options,
                   '--shape', '256', '320', '--dynamic', '--max-size',
                   '512')
    diffs = raw_diffs(log)
    assert len(diffs) == 6 and max(diffs) <= 1e-4, diffs
    assert 'raw outputs at (64, 64)' in log
    sizes = re.findall(r'\.jpg \((\d+), (\d+)\): ONNX Runtime vs '
                       r'model\.predict: pixels 0,', log)
    assert len(sizes) == 2, log[-2000:]
    assert all(int(w) > crop[1] for _, w in sizes), sizes  # > 1 window
    for size in (tuple(crop), (97, 131)):
        same_file_outputs(model, onnx_file, size)


#: Swin-ACmix and ViT-LSLA export for H, W >= 225 (README, Deployment): the
#: toy images twice the tiny test size (256x320), LSLA's windows 256x256.
LARGE = ('--min-size', '225')
FAMILIES = [
    ('configs/acmix/mask_rcnn_acmix_swin_t_1x.py',
     {'test_dataloader.dataset.pipeline.1.scale': (512, 256),
      'model.test_cfg.rcnn.score_thr': 0.}, LARGE),
    ('configs/acmix/retinanet_acmix_r50_1x.py', DECISIVE_RETINA, ()),
    ('configs/hatnet/upernet_hatnet_t_160k.py', {}, ()),
    ('configs/transcnn/retinanet_transcnn_t_1x.py', DECISIVE_RETINA, ()),
    ('configs/lsla/upernet_lsla_t_160k.py',
     {'test_dataloader.dataset.pipeline.1.scale': (1024, 256),
      'model.data_preprocessor.size': (256, 256),
      'model.test_cfg.crop_size': (256, 256),
      'model.test_cfg.stride': (171, 171)}, LARGE),
]


@pytest.mark.skipif(not DEPLOY_ALL, reason='MMHYBRID_DEPLOY_ALL=1 only')
@pytest.mark.parametrize('config,extra,args', FAMILIES,
                         ids=[osp.basename(c)[:-3] for c, _, _ in FAMILIES])
def test_families_dynamic(config, extra, args, toy_images, tmp_path):
    """A whole model of every other backbone family (tiny arch, random
    heads; RetinaNet's decisive, Mask R-CNN's every detection kept), H and W
    symbolic: ORT = PyTorch within 1e-4 at six sizes (from 64x64 or
    225x225) and the same post-processed predictions."""
    model, options = tiny_model(config, extra)
    if 'retinanet' in config:
        # these tiny backbones' features are weaker than HorNet's with its
        # layer scales at 1: scores up to ~0.04 with std 0.03, none at 0.15
        decisive_retina_head(model, cls_std=0.1, cls_bias=-2.)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    onnx_file = str(tmp_path / 'model.onnx')
    kind = 'mmseg' if 'upernet' in config else 'mmdet'
    log = run_tool(config, ckpt, onnx_file, toy_images[kind], options,
                   '--shape', '256', '320', '--dynamic', '--max-size',
                   '512', *args)
    diffs = raw_diffs(log)
    assert len(diffs) == 6 and max(diffs) <= 1e-4, diffs
    if kind == 'mmdet':  # detections to compare on both images
        checks = re.findall(
            r'vs model\.predict: detections (\d+), count 1\.?0*,', log)
        assert len(checks) == 2 and all(int(n) > 0 for n in checks), \
            log[-2000:]
    else:
        assert len(re.findall(r'vs model\.predict: pixels 0,', log)) == 2
    same_file_outputs(model, onnx_file, (257, 321) if args else (97, 131))


def test_fpn_head_dynamic(tmp_path):
    """Semantic FPN's head exports with symbolic H, W only with mmseg's
    ``Upsample`` made traceable: its ``int(size * scale_factor)`` is fixed
    at the example's size (silently) and the file is wrong elsewhere."""
    from mmseg.models.decode_heads import FPNHead

    from mmhybrid.utils.deploy import export_onnx, traceable_upsampling

    class Head(torch.nn.Module):  # the 4 FPN levels from one image
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Conv2d(3, 8, 4, 4)
            self.head = FPNHead(feature_strides=[4, 8, 16, 32],
                                in_channels=[8] * 4, in_index=[0, 1, 2, 3],
                                channels=8, num_classes=3)

        def forward(self, x):
            feats = [self.stem(x)]
            for _ in range(3):
                feats.append(torch.nn.functional.avg_pool2d(feats[-1], 2))
            return (self.head(feats), )

    torch.manual_seed(0)
    model = Head().eval()
    kwargs = dict(example_size=(128, 160), min_size=64, max_size=256,
                  verify_sizes=[(64, 96), (160, 128)])
    with pytest.raises(AssertionError, match='differs from PyTorch'):
        export_onnx(model, str(tmp_path / 'plain.onnx'), **kwargs)
    with traceable_upsampling(model):
        report = export_onnx(model, str(tmp_path / 'head.onnx'), **kwargs)
    assert max(d for _, d in report) < 1e-5
    assert type(model.head.scale_heads[1][1]).__module__.startswith('mmseg')


def test_partly_random_model_is_refused(tmp_path):
    """As in tools/test.py: a checkpoint that leaves most of the model
    random stops the tool before it exports anything."""
    spec = importlib.util.spec_from_file_location('pytorch2onnx',
                                                  osp.join(ROOT, TOOL))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    config = 'configs/hornet/semantic_fpn_hornet_t_80k.py'
    model, options = tiny_model(config, {})
    cfg = load(config)
    cfg.merge_from_dict(tiny_overrides(cfg))
    heads_only = {k: v for k, v in model.state_dict().items()
                  if not k.startswith('backbone.')}
    ckpt = str(tmp_path / 'heads_only.pth')
    torch.save(dict(state_dict=heads_only), ckpt)
    with pytest.raises(RuntimeError, match='partly random model'):
        tool.build_model(cfg, ckpt)


def test_label_flip_is_measured_by_its_logit_margin():
    """compare_predictions: a label that differs reports PyTorch's margin
    between the two labels there (the tool allows 2 x atol: a near-tie)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmhybrid.utils.deploy import compare_predictions

    def sample(logits):
        s = SegDataSample()
        s.seg_logits = PixelData(data=logits)
        s.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
        return s

    ref = torch.tensor([[[1.0, 0.3]], [[1.00005, 0.0]], [[0.0, 0.5]]])
    out = ref.clone()
    out[0, 0, 0] += 1e-4  # flips pixel 0 from label 1 to label 0
    diff = compare_predictions([sample(ref)], [sample(out)])
    assert diff['pixels'] == 0.5
    assert diff['pixel_margin'] == pytest.approx(5e-5, abs=1e-6)
    assert diff['seg_logits'] == pytest.approx(1e-4, abs=1e-6)
    assert 'pixel_margin' not in compare_predictions([sample(ref)],
                                                     [sample(ref)])
