"""Deployment: the traced (export / compile) paths of every backbone, ONNX
export with dynamic H, W checked in ONNX Runtime, torch.compile without
recompilation on size changes."""
import os

import pytest
import torch

import mmhybrid  # noqa: F401
from mmhybrid.models.layers.gnconv import (adapt_complex_weight,
                                           dft_global_filter)
from tests.test_models.test_backbone_contract import BACKBONES, build

#: The whole backbone matrix of the ONNX Runtime and dynamo-capture tests
#: takes ~3.5 min of CPU (2 idle cores): the default run checks the
#: backbones below, ``MMHYBRID_DEPLOY_ALL=1`` every one (README, Deployment).
DEPLOY_ALL = os.environ.get('MMHYBRID_DEPLOY_ALL') == '1'
ONNX_DEFAULT = ('mmhybrid.HorNet', 'ResNetACmix')
COMPILE_DEFAULT = ('HorNet', 'mmhybrid.HorNet', 'ResNetACmix', 'HATNet',
                   'TransCNN')


def matrix(names, default):
    return list(names) if DEPLOY_ALL else [n for n in names if n in default]


#: Odd, non-square sizes on both sides of every window / grid multiple.
SIZES = [(97, 131), (128, 160), (65, 201)]


@pytest.mark.parametrize('hw', [(14, 14), (5, 8), (13, 9), (1, 1), (2, 7)])
def test_dft_global_filter_is_the_fft_filter(hw):
    x = torch.randn(2, 3, *hw)
    weight = adapt_complex_weight(torch.randn(3, 14, 8, 2),
                                  (hw[0], hw[1] // 2 + 1))
    ref = torch.fft.irfft2(
        torch.fft.rfft2(x, norm='ortho') *
        torch.view_as_complex(weight.contiguous()), s=hw, norm='ortho')
    torch.testing.assert_close(dft_global_filter(x, weight), ref,
                               rtol=0, atol=1e-5)


def _gammas_to_one(model):
    # HorNet's layer scales start at 1e-6 and would hide its mixers
    for name, p in model.named_parameters():
        if 'gamma' in name:
            p.data.fill_(1.)
    return model


@pytest.mark.parametrize('name', BACKBONES)
def test_traced_paths_equal_eager(name, monkeypatch):
    """The branch-free code taken under torch.export / torch.compile
    (always padded and masked, gathers, unfolds, DFT filter), run eagerly,
    gives the eager outputs."""
    model = _gammas_to_one(build(name)).eval()
    xs = [torch.rand(1, 3, *s) for s in SIZES]
    with torch.no_grad():
        refs = [model(x) for x in xs]
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
        monkeypatch.setattr(torch.compiler, 'is_exporting', lambda: True)
        outs = [model(x) for x in xs]
    for ref, out in zip(refs, outs):
        for r, o in zip(ref, out):
            assert r.shape == o.shape
            # SG-Former ranks tokens: an ulp of difference in a
            # significance value may reorder near-ties (see the README)
            if name != 'SGFormer':
                torch.testing.assert_close(o, r, rtol=0, atol=1e-5)


#: Backbones exported and checked in ONNX Runtime. Not here: SGFormer
#: (ranking near-ties flip between kernels in float32, see the README),
#: the paper form of HAT-Net's H-MHSA (its number of steps depends on the
#: input size), ExampleBackbone (a test fixture).
ONNX_BACKBONES = [n for n in BACKBONES
                  if n not in ('ExampleBackbone', 'SGFormer',
                               'mmhybrid.HATNet')]
#: The last stage of Swin-ACmix / ViT-LSLA does not shift up to 224 (the
#: official rule): one file covers sizes on one side of it.
ONNX_MIN_SIZE = {'SwinACmix': 225, 'ViTLSLA': 225}


@pytest.mark.slow
@pytest.mark.parametrize('name', matrix(ONNX_BACKBONES, ONNX_DEFAULT))
def test_onnx_dynamic_hw(name, tmp_path):
    """One exported file, ONNX Runtime = PyTorch within 1e-4 at the
    smallest, an odd non-square and a large size of the range."""
    pytest.importorskip('onnxruntime')
    from mmhybrid.utils.deploy import export_onnx
    model = _gammas_to_one(build(name)).eval()
    lo = ONNX_MIN_SIZE.get(name, 64)
    sizes = [(lo, lo), (lo + 1, lo + 37), (321, 255)]
    report = export_onnx(model, str(tmp_path / 'model.onnx'),
                         example_size=(256, 320), min_size=lo, max_size=512,
                         verify_sizes=sizes)
    assert [s for s, _ in report] == sizes
    assert max(d for _, d in report) < 1e-4


@pytest.mark.parametrize('name', matrix(
    [n for n in BACKBONES if n not in ('ExampleBackbone', 'mmhybrid.HATNet')],
    COMPILE_DEFAULT))
def test_compile_dynamic_no_recompilation(name):
    """torch.compile with dynamic shapes captures every backbone once for
    two sizes, and the captured code gives the eager outputs.

    ``backend='eager'``: dynamo's capture and guards (what decides
    recompilation) without AOT tracing and inductor's code generation,
    which take tens of seconds per backbone on 2 cores; inductor is checked
    on HorNet (:func:`test_compile_inductor`). Sizes where every window /
    grid count is at least 2: dynamo specialises sizes of 1 (one more graph
    for small inputs, e.g. HAT-Net's 7-cell grid at stride 16 up to 112
    pixels). Batch 2: at batch 1 PyTorch picks a dense 3x3 conv's CPU
    kernel by whether its input has more than 20480 elements, and dynamo
    guards on that choice (one more graph per crossed threshold, see the
    README). Not the paper form of HAT-Net: one graph per number of H-MHSA
    steps, which depends on the input size (as for ONNX)."""
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    model = _gammas_to_one(build(name)).eval()
    compiled = torch.compile(model, backend='eager', dynamic=True)
    with torch.no_grad():
        for size in [(233, 301), (289, 257)]:
            x = torch.rand(2, 3, *size)
            for r, o in zip(model(x), compiled(x)):
                assert r.shape == o.shape
                if name != 'SGFormer':  # ranking near-ties, see above
                    torch.testing.assert_close(o, r, rtol=0, atol=1e-5)
    assert counters['stats']['unique_graphs'] == 1, dict(counters['stats'])


@pytest.mark.slow
def test_compile_inductor():
    """torch.compile (inductor, CPU), dynamic shapes: the same outputs, one
    graph for several sizes. HorNet's stem and first stage (padding, gnConv,
    LayerNorms): inductor's compile of the whole tiny arch takes ~45 s on
    one core, this ~20 s; every backbone's whole graph and its guards are
    checked by :func:`test_compile_dynamic_no_recompilation`."""
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    model = _gammas_to_one(build('HorNet', out_indices=(0, ))).eval()
    compiled = torch.compile(model, dynamic=True)
    with torch.no_grad():
        for size in [(64, 96), (97, 131), (70, 64)]:
            x = torch.rand(1, 3, *size)
            for r, o in zip(model(x), compiled(x)):
                torch.testing.assert_close(o, r, rtol=0, atol=1e-5)
    assert counters['stats']['unique_graphs'] == 1, dict(counters['stats'])


def test_compile_inductor_swin_acmix_crop():
    """Inductor on Swin-ACmix's first stage (one block, static shapes: the
    code is the same, compiled in ~20 s): padded map, crop, residual and
    LayerNorm. With the crop as a gather, inductor (torch 2.14, CPU)
    generated a tiled LayerNorm whose tail store wrote past its buffer
    (pytorch#196681): outputs off by 0.2, then a heap corruption abort."""
    torch._dynamo.reset()
    model = build('SwinACmix', out_indices=(0, ),
                  arch=dict(embed_dims=16, depths=[1, 1, 1, 1],
                            num_heads=[2, 2, 4, 4])).eval()
    compiled = torch.compile(model, dynamic=False)
    with torch.no_grad():
        x = torch.rand(2, 3, 233, 301)  # 59 x 76 tokens: not multiples of 16
        for r, o in zip(model(x), compiled(x)):
            torch.testing.assert_close(o, r, rtol=0, atol=1e-5)


@pytest.mark.parametrize('size', [(15, 9), (3, 2), (1, 1), (2, 5), (1, 9)])
@pytest.mark.parametrize('stride', [1, 2])
def test_traced_sliding_window_attention(size, stride, monkeypatch):
    """ResNet-ACmix's traced attention (unfolded windows, reflection padding
    by gathers) equals the eager tiled kernel in float64, on maps smaller
    than the window and 1-pixel sides included."""
    from mmhybrid.models.layers.sliding_window_attention import \
        sliding_window_attention
    q, k, v = (torch.randn(6, 5, *size, dtype=torch.float64)
               for _ in range(3))
    pe = torch.randn(1, 5, *size, dtype=torch.float64)
    ref = sliding_window_attention(q, k, v, pe, 7, stride)
    monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
    out = sliding_window_attention(q, k, v, pe, 7, stride)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_traced_linspace():
    """The traced ``linspace`` of ACmix's position grid: PyTorch's scalar
    CPU formula, within an ulp of ``torch.linspace`` (whose vectorised
    kernel rounds some entries differently)."""
    from mmhybrid.models.backbones.acmix import _linspace
    for dtype in (torch.float32, torch.float64):
        for n in [1, 2, 3, 7, 8, 56, 97, 224]:
            ref = torch.linspace(-1., 1., n, dtype=dtype)
            out = _linspace(-1., 1., n, dtype, torch.device('cpu'))
            assert out.shape == ref.shape and out[0] == -1.
            ulp = torch.finfo(dtype).eps
            torch.testing.assert_close(out, ref, rtol=0, atol=ulp)


def test_binned_adaptive_pool(tmp_path):
    """``BinnedAdaptiveAvgPool2d`` = ``nn.AdaptiveAvgPool2d`` (overlapping
    bins, bins wider than the input), and ``traceable_pooling`` makes the
    pools of a model symbolic in a dynamic ONNX file, where the plain pool
    fixes the example's bin boundaries (ONNX Runtime fails elsewhere)."""
    from mmhybrid.utils.deploy import (BinnedAdaptiveAvgPool2d, export_onnx,
                                       traceable_pooling)
    torch.manual_seed(0)
    for out in (1, 2, 3, 6, (2, 3)):
        for hw in [(2, 2), (2, 5), (5, 7), (6, 6), (13, 9), (16, 20),
                   (33, 17)]:
            x = torch.randn(2, 3, *hw)
            torch.testing.assert_close(
                BinnedAdaptiveAvgPool2d(out)(x),
                torch.nn.AdaptiveAvgPool2d(out)(x), rtol=0, atol=1e-6)

    class PPM(torch.nn.Module):  # UperNet's pooling pyramid
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)
            self.pools = torch.nn.ModuleList(
                torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(s))
                for s in (1, 2, 3, 6))

        def forward(self, x):
            x = self.conv(x)
            return tuple(pool(x) for pool in self.pools)

    model = PPM().eval()
    kwargs = dict(example_size=(16, 20), min_size=2, max_size=64,
                  verify_sizes=[(2, 2), (7, 9), (33, 17)])
    # ONNX Runtime's Gather out of bounds (or a wrong output elsewhere)
    with pytest.raises(Exception, match='out of data bounds|differs'):
        export_onnx(model, str(tmp_path / 'plain.onnx'), **kwargs)
    with traceable_pooling(model):
        assert isinstance(model.pools[3][0], BinnedAdaptiveAvgPool2d)
        report = export_onnx(model, str(tmp_path / 'pool.onnx'), **kwargs)
    assert max(d for _, d in report) < 1e-6
    assert type(model.pools[3][0]) is torch.nn.AdaptiveAvgPool2d
