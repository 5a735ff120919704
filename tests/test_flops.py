"""FLOP counting of the ops fvcore misses (mmhybrid.utils.flops)."""
import math

import torch
import torch.nn as nn

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS
from mmhybrid.utils.flops import flop_analyzer


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
    assert not any('LocalAttention' in k for k in unsupported)


def test_elementwise_option():
    class Gate(nn.Module):

        def forward(self, x):
            return x * x

    x = torch.rand(1, 4, 8, 8)
    assert count(Gate(), x)[0] == 0
    assert count(Gate(), x, elementwise=True)[0] == x.numel()
