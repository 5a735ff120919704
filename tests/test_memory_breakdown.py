"""Where the memory of a forward+backward goes
(mmhybrid.utils.memory_breakdown): exact accounting on a model whose saved
tensors are known, totals that agree with the allocator on a real backbone,
``benchmark.py --memory-breakdown`` and ``benchmark_zoo.py
--memory-breakdown``."""
import importlib.util
import json
import os.path as osp

import torch
import torch.nn as nn

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS
from mmhybrid.utils.memory_breakdown import (breakdown_tables, fold_indices,
                                             memory_breakdown)
from tests.test_models.test_backbone_contract import TINY
from tests.in_process import run_script

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_known_saved_tensors_counted_once_per_storage():
    """conv -> BN -> GELU -> conv -> in-place ReLU -> conv on 1x3x16x16:
    each op saves its input (or, ReLU, its output); the in-place ReLU's
    output is the second conv's output and the third conv's input, one
    storage; weights and the input are saved too but held before."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                          nn.GELU(), nn.Conv2d(8, 8, 3, padding=1),
                          nn.ReLU(inplace=True), nn.Conv2d(8, 4, 1))
    x = torch.rand(1, 3, 16, 16)
    r = memory_breakdown(model, x)
    fmap = 8 * 16 * 16 * 4  # one 8-channel fp32 map
    by_op = {row['op']: (row['bytes'], row['storages'])
             for row in r['by_op']}
    assert by_op == {
        'NativeBatchNormBackward0': (fmap + 2 * 8 * 4, 3),  # + mean, invstd
        'GeluBackward0': (fmap, 1),
        'ConvolutionBackward0': (fmap, 1),  # GELU's output, the 2nd conv's
        'ReluBackward0': (fmap, 1),  # in place: also the 3rd conv's input
    }
    assert r['saved_bytes'] == 4 * fmap + 64 and r['saved_storages'] == 6
    by_module = {(row['module'], row['type']): row['bytes']
                 for row in r['by_module']}
    assert by_module == {('*', 'BatchNorm2d'): fmap + 64, ('*', 'GELU'): fmap,
                         ('*', 'Conv2d'): fmap, ('*', 'ReLU'): fmap}
    weights = x.numel() * 4 + sum(
        m.weight.numel() * 4 for m in model if isinstance(m, nn.Conv2d)) + \
        3 * 8 * 4  # BN weight, running mean and var
    assert r['weights_saved_bytes'] == weights
    # the allocator agrees: what is live after the forward is what was
    # saved (the output was freed after the loss; the loss is 4 bytes)
    assert r['saved_bytes'] <= r['live_after_forward_bytes'] <= \
        r['saved_bytes'] + 64
    assert r['peak_allocated_bytes'] >= r['live_after_forward_bytes']
    # hooks removed, gradients freed: the model is as it was
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks
                   for m in model.modules())
    tables = breakdown_tables(r, top=2)
    assert '| `NativeBatchNormBackward0` | 3 |' in tables
    assert '| 2 more |' in tables and '| `*` | BatchNorm2d | 1 | 3 |' in tables


def test_fold_indices():
    assert fold_indices('stages.1.3.attn.qkv') == 'stages.*.*.attn.qkv'
    assert fold_indices('layer1.0.conv1') == 'layer1.*.conv1'
    assert fold_indices('norm0') == 'norm0' and fold_indices('') == ''


def test_totals_agree_on_a_backbone():
    """A tiny HorNet with global filters (complex spectra, gnConv gates):
    every saved byte is attributed to one op and one module of the
    backbone, and the saved tensors are (almost all) what the allocator
    holds after the forward."""
    model = MODELS.build(dict(type='HorNet', **TINY['mmhybrid.HorNet']))
    r = memory_breakdown(model, torch.rand(1, 3, 64, 96))
    saved = r['saved_bytes']
    assert saved > 0
    assert sum(row['bytes'] for row in r['by_op']) == saved
    assert sum(row['bytes'] for row in r['by_module']) == saved
    assert sum(row['storages'] for row in r['by_op']) == r['saved_storages']
    # HorNet checkpoints its global filter in training: what
    # torch.utils.checkpoint keeps in its own frame is live but not seen by
    # saved-tensor hooks (here ~3% of the live bytes)
    assert saved <= r['live_after_forward_bytes'] <= saved * 1.05 + 1024
    assert r['peak_allocated_bytes'] > r['live_after_forward_bytes']
    names = {fold_indices(n) for n, _ in model.named_modules()}
    assert {row['module'] for row in r['by_module']} <= names


def test_benchmark_cli_memory_breakdown():
    arch = str(TINY['HorNet']['arch'])
    proc = run_script('tools/analysis_tools/benchmark.py', 'HorNet',
                      '--arch', arch, '--shape', '1', '3', '64', '64',
                      '--memory-breakdown', '--json', '--threads', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r['input'] == [1, 3, 64, 64] and r['mode'] == 'fwd-bwd'
    assert r['measured_peak_bytes'] > 0
    assert 0 < r['saved_bytes'] <= r['live_after_forward_bytes']
    assert sum(row['bytes'] for row in r['by_op']) == r['saved_bytes']
    assert 'median_s' not in r  # no timing


def test_zoo_memory_breakdown(tmp_path):
    """``benchmark_zoo.py --memory-breakdown`` on a tiny spec: a fresh
    process per model, one markdown document and its JSON."""
    spec = [dict(name='tiny-HorNet', type='HorNet', kwargs=TINY['HorNet']),
            dict(name='tiny-ResNet', type='mmdet.ResNet', baseline=True,
                 kwargs=dict(depth=18, base_channels=8, stem_channels=8,
                             norm_eval=False))]
    (tmp_path / 'spec.json').write_text(json.dumps(spec))
    tool = importlib.util.spec_from_file_location(
        'benchmark_zoo', osp.join(ROOT, 'tools', 'analysis_tools',
                                  'benchmark_zoo.py'))
    zoo = importlib.util.module_from_spec(tool)
    tool.loader.exec_module(zoo)
    threads = torch.get_num_threads()
    try:
        zoo.main(['--memory-breakdown', '--spec', str(tmp_path / 'spec.json'),
                  '--sizes', '32', '64x48', '--threads', '1', '--out-dir',
                  str(tmp_path / 'out')])
    finally:
        torch.set_num_threads(threads)
    raw = json.loads((tmp_path / 'out' / 'memory_breakdown.json').read_text())
    assert list(raw['results']) == ['tiny-HorNet', 'tiny-ResNet']
    for name, sizes in raw['results'].items():
        assert list(sizes) == ['32x32', '64x48']
        # BatchNorm cannot train a 1x1 map (ResNet at 32): a marked cell
        for size, r in sizes.items():
            if name == 'tiny-ResNet' and size == '32x32':
                assert r.startswith('error: ValueError'), r
                continue
            assert 0 < r['saved_bytes'] <= r['live_after_forward_bytes']
    md = (tmp_path / 'out' / 'memory_breakdown.md').read_text()
    assert '--memory-breakdown' in md
    assert '| tiny-ResNet | 32x32 | **error: ValueError' in md
    assert '## tiny-HorNet, 1x3x64x48' in md and '| op (grad_fn) |' in md
