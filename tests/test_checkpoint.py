"""The pretrained-weight loader: unwrapping, prefixes, report, failures."""
import argparse

import pytest
import torch

from mmhybrid.models.utils import load_pretrained
from tests.example_backbone import ExampleBackbone
from tests.in_process import run_script


def official_layout(model):
    """What an official classification release looks like."""
    sd = {f'module.{k}': v for k, v in model.state_dict().items()}
    sd['module.head.weight'] = torch.zeros(10, 32)
    return sd


@pytest.mark.parametrize('key', ['model', 'state_dict', 'state_dict_ema',
                                 None])
def test_unwrap_and_report(tmp_path, key, caplog):
    src = ExampleBackbone()
    sd = official_layout(src)
    path = tmp_path / 'ckpt.pth'
    torch.save({key: sd, 'epoch': 3} if key else sd, path)
    dst = ExampleBackbone()
    report = load_pretrained(dst, str(path))
    assert len(report.loaded) == report.total
    assert not report.unexpected  # the converter drops the head
    assert not report.missing
    assert f'loaded {report.total}/{report.total} tensors' in str(report)
    for k, v in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[k], v)


def test_detector_checkpoint_prefix(tmp_path):
    src = ExampleBackbone()
    sd = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    sd['neck.conv.weight'] = torch.zeros(1)
    torch.save({'state_dict': sd}, tmp_path / 'det.pth')
    report = load_pretrained(ExampleBackbone(), str(tmp_path / 'det.pth'))
    assert report.ratio == 1 and not report.unexpected


def test_too_little_matches_raises(tmp_path):
    torch.save({'model': {'foo.weight': torch.zeros(3)}}, tmp_path / 'x.pth')
    with pytest.raises(RuntimeError, match='Only 0/'):
        load_pretrained(ExampleBackbone(), str(tmp_path / 'x.pth'))


def test_shape_mismatch_is_reported_or_resized(tmp_path):
    src = ExampleBackbone(
        arch=dict(dims=[8, 16, 24, 40], depths=[1, 1, 2, 1]))
    torch.save(src.state_dict(), tmp_path / 'x.pth')
    report = load_pretrained(ExampleBackbone(), str(tmp_path / 'x.pth'),
                             min_match=0.5)
    assert report.mismatched and not report.resized
    assert any(k.startswith('stages.3') for k in report.mismatched)

    class Resizing(ExampleBackbone):

        def adapt_pretrained(self, key, value, target):
            return value.flatten()[:target.numel()].reshape(target.shape) \
                if value.numel() >= target.numel() else None

    report = load_pretrained(Resizing(), str(tmp_path / 'x.pth'),
                             min_match=0.5)
    assert report.resized and 'stages.3.0.pw.weight' in report.resized


def test_pickled_extras_load(tmp_path):
    """Official releases pickle e.g. argparse.Namespace next to the model."""
    sd = ExampleBackbone().state_dict()
    torch.save({'model': sd, 'args': argparse.Namespace(lr=1)},
               tmp_path / 'x.pth')
    report = load_pretrained(ExampleBackbone(), str(tmp_path / 'x.pth'))
    assert report.ratio == 1


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_pretrained(ExampleBackbone(), '/nonexistent.pth')


def test_init_cfg_pretrained_uses_loader(tmp_path):
    src = ExampleBackbone()
    torch.save({'model': official_layout(src)}, tmp_path / 'x.pth')
    dst = ExampleBackbone(init_cfg=dict(type='Pretrained',
                                        checkpoint=str(tmp_path / 'x.pth')))
    dst.init_weights()
    torch.testing.assert_close(dst.stem[0].weight, src.stem[0].weight)


def test_converter_cli(tmp_path):
    """The CLI writes backbone.-prefixed weights that mmengine's stock
    Pretrained init loads under weights_only=True."""
    from mmengine.runner.checkpoint import load_checkpoint
    src = ExampleBackbone()
    torch.save({'model': official_layout(src),
                'args': argparse.Namespace(lr=1)}, tmp_path / 'off.pth')
    out = run_script('tools/model_converters/convert_checkpoint.py',
                     'ExampleBackbone', tmp_path / 'off.pth',
                     tmp_path / 'mm.pth', '--arch', 't')
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'loaded' in out.stdout
    ckpt = torch.load(tmp_path / 'mm.pth', weights_only=True)
    assert all(k.startswith('backbone.') for k in ckpt['state_dict'])
    dst = ExampleBackbone()
    load_checkpoint(dst, str(tmp_path / 'mm.pth'), revise_keys=[
        (r'^backbone\.', '')], strict=True)
    torch.testing.assert_close(dst.stem[0].weight, src.stem[0].weight)


class _Payload:
    """Pickles as a call that writes a marker file: what an attacker's
    ``__reduce__`` would do, harmlessly."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_payload_does_not_run(tmp_path):
    marker = tmp_path / 'pwned'
    torch.save({'model': ExampleBackbone().state_dict(),
                'extra': _Payload(marker)}, tmp_path / 'evil.pth')
    dst = ExampleBackbone(init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'evil.pth')))
    with pytest.raises(Exception, match='weights_only=False') as info:
        dst.init_weights()
    assert 'refused' in str(info.value)
    assert not marker.exists()
    # the converter CLI refuses it too
    out = run_script('tools/model_converters/convert_checkpoint.py',
                     'HorNet', tmp_path / 'evil.pth', tmp_path / 'out.pth')
    assert out.returncode != 0 and '--no-weights-only' in out.stderr
    assert not marker.exists()


def test_opt_in_unpickles_everything(tmp_path):
    marker = tmp_path / 'ran'
    torch.save({'model': ExampleBackbone().state_dict(),
                'extra': _Payload(marker)}, tmp_path / 'x.pth')
    report = load_pretrained(ExampleBackbone(), str(tmp_path / 'x.pth'),
                             weights_only=False)
    assert report.ratio == 1 and marker.exists()


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    url = 'http://127.0.0.1:9/nowhere/hornet_tiny_7x7.pth'  # closed port
    with pytest.raises(RuntimeError) as info:
        load_pretrained(ExampleBackbone(), url)
    msg = str(info.value)
    assert url in msg
    assert 'model.backbone.init_cfg.checkpoint=PATH' in msg
    assert 'model.backbone.init_cfg=None' in msg


def test_backbone_prefers_its_state_dict_keys(tmp_path):
    """A backbone whose official evaluation uses EMA weights says so with
    ``state_dict_keys``; the loader follows it."""

    class EmaFirst(ExampleBackbone):
        state_dict_keys = ('state_dict_ema', 'state_dict')

    ema, raw = ExampleBackbone().state_dict(), ExampleBackbone().state_dict()
    torch.save({'state_dict': raw, 'state_dict_ema': ema},
               tmp_path / 'x.pth')
    dst = EmaFirst()
    load_pretrained(dst, str(tmp_path / 'x.pth'))
    torch.testing.assert_close(dst.stem[0].weight, ema['stem.0.weight'])
    dst = ExampleBackbone()  # default order: state_dict first
    load_pretrained(dst, str(tmp_path / 'x.pth'))
    torch.testing.assert_close(dst.stem[0].weight, raw['stem.0.weight'])


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_pretrained(ExampleBackbone(), str(tmp_path / 'none.pth'))
    assert 'model.backbone.init_cfg=None' in str(info.value)
