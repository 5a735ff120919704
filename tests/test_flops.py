"""FLOP counting of the ops fvcore misses (mmhybrid.utils.flops), MACs vs
FLOPs in the analysis tools, and classification heads on any scope's
backbone."""
import importlib.util
import json
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS
from mmhybrid.utils.analysis import build_target, last_stage_channels
from mmhybrid.utils import timing
from mmhybrid.utils.flops import count_macs, flop_analyzer, macs_to_flops
from tests.in_process import run_script


class FFT(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.fft.irfft2(torch.fft.rfft2(x, dim=self.dim),
                                s=[x.shape[d] for d in self.dim],
                                dim=self.dim)


def count(model, x, **kwargs):
    analyzer = flop_analyzer(model, (x, ), **kwargs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), dict(analyzer.unsupported_ops())


def test_fft_counted_on_the_dims_it_transforms():
    x = torch.rand(2, 8, 16, 12)
    bchw, _ = count(FFT((2, 3)), x)
    bhwc, _ = count(FFT((1, 2)), x.permute(0, 2, 3, 1).contiguous())
    n = 16 * 12
    assert bchw == bhwc == 2 * int(2 * 8 * n * math.log2(n))


def test_sdpa_counted():
    q = torch.rand(1, 2, 10, 4)

    class Attn(nn.Module):

        def forward(self, q):
            return nn.functional.scaled_dot_product_attention(q, q, q)

    flops, unsupported = count(Attn(), q)
    assert flops == 2 * 2 * 10 * 10 * 4 and not unsupported


def test_acmix_window_attention_counted():
    model = MODELS.build(dict(type='ResNetACmix', arch=dict(
        depths=[1, 1, 1, 1], base_channels=8))).eval()
    _, unsupported = count(model, torch.rand(1, 3, 64, 64))
    assert not any('SlidingWindowAttention' in k for k in unsupported)


@pytest.mark.parametrize('stride', [1, 2])
def test_acmix_window_attention_count(stride):
    """The attention is counted by its windows (q . k and a v over 7x7
    offsets per output position), not by the tiles it is computed with."""
    from mmhybrid.models.backbones.acmix import ACmix
    m = ACmix(8, 8, 7, 4, 3, stride).eval()
    x = torch.rand(1, 8, 13, 10)
    ho, wo = -(-13 // stride), -(-10 // stride)
    by_op = flop_analyzer(m, (x, )).unsupported_ops_warnings(False) \
        .by_operator()
    assert by_op['PythonOp._SlidingWindowAttention'] == \
        2 * 49 * 8 * ho * wo


def test_elementwise_option():
    class Gate(nn.Module):

        def forward(self, x):
            return x * x

    x = torch.rand(1, 4, 8, 8)
    assert count(Gate(), x)[0] == 0
    assert count(Gate(), x, elementwise=True)[0] == x.numel()


ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Other scopes' backbones (small settings) and their last-stage channels.
FOREIGN = {
    'mmdet.ResNet': (dict(depth=18, base_channels=8, stem_channels=8), 64),
    'mmdet.SwinTransformer': (dict(embed_dims=16, depths=(1, 1, 1, 1),
                                   num_heads=(1, 1, 1, 1)), 128),
    'mmpretrain.ConvNeXt': (dict(arch=dict(depths=[1, 1, 1, 1],
                                           channels=[8, 16, 32, 48])), 48),
}


@pytest.mark.parametrize('target', sorted(FOREIGN))
def test_num_classes_head_on_any_scope(target):
    kwargs, channels = FOREIGN[target]
    model, _ = build_target(target, None, 7, kwargs)
    assert last_stage_channels(model.backbone) == channels
    assert model.fc.in_features == channels
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 7)
    flops, unsupported = count(model.eval(), torch.rand(1, 3, 64, 64))
    assert flops > 0


@pytest.mark.parametrize('target,kwargs,params', [
    ('mmdet.ResNet', dict(depth=50), 25_557_032),  # torchvision's count
    ('mmdet.SwinTransformer', dict(), 28.29e6),  # Swin-T: 28.29M (+4 norms)
    ('mmpretrain.ConvNeXt', dict(arch='tiny'), 28_589_128),
])
def test_num_classes_head_on_the_baselines(target, kwargs, params):
    """The three baselines with the papers' 1000-class head."""
    model, _ = build_target(target, None, 1000, kwargs)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(
        params, rel=2e-4)


def test_get_flops_cli_foreign_backbone_with_head():
    """The command of the README that used to fail on out_channels."""
    kwargs, _ = FOREIGN['mmdet.SwinTransformer']
    proc = run_script(
        'tools/analysis_tools/get_flops.py', 'mmdet.SwinTransformer',
        '--num-classes', '100', '--shape', '64', '--json', '--kwargs',
        'embed_dims=16', 'depths=(1,1,1,1)', 'num_heads=(1,1,1,1)')
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['flops'] == 2 * result['macs'] > 0
    assert result['gmacs'] == round(result['macs'] / 1e9, 2)


def test_units_macs_vs_flops():
    assert macs_to_flops(3) == 6
    # an n x n matmul is n^3 MACs for the counter and 2 n^3 FLOPs for the
    # peak: the two must not be mixed
    n = 64

    class MatMul(nn.Module):

        def forward(self, x):
            return x @ x

    macs, _ = count(MatMul(), torch.rand(n, n))
    assert macs == n**3


def test_benchmark_ratio_of_a_pure_matmul_is_one(monkeypatch):
    """A model that is one n x n matmul, timed as long as the n x n matmul
    of the peak, runs at the peak: MACs converted to FLOPs over its time,
    against 2 n^3 / t, is 1 (it was 0.5 when MACs were divided by FLOP/s).
    The clock is stubbed: the units are under test, not the machine."""
    spec = importlib.util.spec_from_file_location(
        'benchmark', osp.join(ROOT, 'tools', 'analysis_tools',
                              'benchmark.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    n, seconds = 64, 0.25

    def fake_time_step(step, device='cpu'):
        step()
        return seconds

    monkeypatch.setattr(timing, 'time_step', fake_time_step)
    monkeypatch.setattr(benchmark, 'time_step', fake_time_step)

    class MatMul(nn.Module):

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.rand(n, n))

        def forward(self, x):
            return x.flatten(0, 2) @ self.w

    model, x = MatMul(), torch.rand(1, 1, n, n)
    macs, _ = count_macs(model, x)
    assert macs == n**3
    peak = timing.matmul_peak_flops(n=n, reps=2)
    assert peak == 2 * n**3 / seconds
    r = benchmark.benchmark(model, (1, 1, n, n), mode='fwd', runs=3,
                            warmup=1, peak_flops=peak)
    assert r['median_s'] == seconds
    assert r['gmacs'] == round(n**3 / 1e9, 3)
    assert r['achieved_gflop_per_s'] == round(2 * n**3 / seconds / 1e9, 1)
    assert r['ratio_to_peak'] == 1
    assert r['matmul_peak_gflop_per_s'] == round(peak / 1e9, 1)
