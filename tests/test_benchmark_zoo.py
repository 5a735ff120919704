"""The model zoo benchmark: discovery through the registry
(mmhybrid.utils.zoo) and a --quick run of tools/analysis_tools/
benchmark_zoo.py on tiny archs whose outputs must be well formed."""
import csv
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

import mmhybrid  # noqa: F401
from mmhybrid.models.backbones import BaseBackbone
from mmhybrid.utils import zoo
from tests.test_models.test_backbone_contract import TINY

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_zoo.py')


def test_discovery_covers_every_registered_backbone():
    models = zoo.discover()
    types = {m.type for m in models}
    for name, cls in zoo.registered_backbones():
        assert name in types, f'{name} is registered but not in the zoo'
        for m in models:
            if m.type == name and 'arch' in m.kwargs:
                cls.parse_arch(m.kwargs['arch'])  # a valid variant
    names = [m.name for m in models]
    assert len(names) == len(set(names))
    # HorNet: 7x7 and GF at T and S scale, one name per alias group
    assert [n for n in names if n.startswith('HorNet-')] == [
        'HorNet-T', 'HorNet-T-GF', 'HorNet-S', 'HorNet-S-GF']
    assert 'ResNetACmix-50' in names  # no T/S keys: its default arch
    assert {'ResNet-50', 'Swin-T', 'ConvNeXt-T'} <= set(names)


def test_zoo_archs_rules():

    class Explicit(BaseBackbone):
        arch_zoo = {'t': {}, 'b': {}}
        zoo_archs = ('b', )

    class Aliases(BaseBackbone):
        arch_zoo = {**dict.fromkeys(['tiny', 't'], dict(d=1)),
                    'small': dict(d=2), 'small-x': dict(d=3),
                    'base': dict(d=4)}

    class Default(BaseBackbone):
        arch_zoo = {'26': dict(d=1), '50': dict(d=2)}

        def __init__(self, arch='50'):
            pass

    assert zoo.zoo_archs(Explicit) == ['b']
    assert zoo.zoo_archs(Aliases) == ['t', 'small', 'small-x']
    assert zoo.zoo_archs(Default) == ['50']


def test_size_parsing_and_selection():
    assert zoo.parse_size('512') == (512, 512)
    assert zoo.parse_size('800x1216') == (800, 1216)
    models = [zoo.ZooModel('HorNet-T', 'HorNet'),
              zoo.ZooModel('ResNet-50', 'mmdet.ResNet', baseline=True)]
    assert [m.name for m in zoo.select(models, ['hornet*'])] == ['HorNet-T']
    with pytest.raises(SystemExit):
        zoo.select(models, ['nothing*'])


def tiny_spec():
    """Every registered backbone's tiny arch and two tiny baselines. The
    ResNet cannot train on 32x32 at batch 1 (BatchNorm of a 1x1 last stage
    raises): its cells at that size must be marked, not crash the run."""
    spec = [dict(name=f'tiny-{name}', type=name, kwargs=kwargs)
            for name, kwargs in TINY.items() if name != 'ExampleBackbone']
    spec += [
        dict(name='tiny-ResNet', type='mmdet.ResNet', baseline=True,
             kwargs=dict(depth=18, base_channels=8, stem_channels=8,
                         norm_eval=False)),
        dict(name='tiny-ConvNeXt', type='mmpretrain.ConvNeXt', baseline=True,
             kwargs=dict(arch=dict(depths=[1, 1, 1, 1],
                                   channels=[8, 16, 32, 64]),
                         out_indices=(0, 1, 2, 3),
                         gap_before_final_norm=False)),
    ]
    return spec


@pytest.mark.slow
def test_quick_run_outputs(tmp_path):
    spec = tiny_spec()
    spec_file = tmp_path / 'spec.json'
    spec_file.write_text(json.dumps(spec))
    out = tmp_path / 'out'
    readme = tmp_path / 'README.md'
    readme.write_text('intro\n<!-- zoo:begin -->\nold\n<!-- zoo:end -->\n'
                      'outro\n')
    path = os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')])
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': path}
    proc = subprocess.run(
        [sys.executable, TOOL, '--quick', '--spec', str(spec_file),
         '--sizes', '32', '64', '--batch-224', '1', '--warmup', '0',
         '--out-dir', str(out), '--threads', '1', '--readme', str(readme)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]

    with open(out / 'zoo.csv', newline='') as f:
        rows = {r['model']: r for r in csv.DictReader(f)}
    assert list(rows) == [s['name'] for s in spec]
    time_cols = [c for c in next(iter(rows.values()))
                 if c.startswith('time_')]
    mem_cols = [c for c in next(iter(rows.values()))
                if c.startswith('mem_fwd-bwd_')]
    assert time_cols == [
        'time_fwd_1x3x224x224_s', 'time_fwd-bwd_1x3x224x224_s',
        'time_fwd-bwd_1x3x32x32_s', 'time_fwd-bwd_1x3x64x64_s']
    assert len(mem_cols) == 2
    for name, r in rows.items():
        assert float(r['params_m']) > 0 and float(r['gmacs_224']) > 0, name
        for c in time_cols + mem_cols:
            if '32x32' in c and r[c] in ('error', 'OOM'):
                continue  # BatchNorm models cannot train a 1x1 map
            value = float(r[c])
            assert value >= 0 and (value > 0 or c in mem_cols), (name, c)
        if r['mem_fwd-bwd_1x3x32x32_mib'] not in ('error', 'OOM'):
            assert r['mem_growth_exponent'] != '', name
    assert rows['tiny-ResNet']['baseline'] == 'True'
    for c in ('time_fwd-bwd_1x3x32x32_s', 'mem_fwd-bwd_1x3x32x32_mib'):
        assert rows['tiny-ResNet'][c] == 'error'
    assert '32x32: ValueError' in rows['tiny-ResNet']['notes']

    md = (out / 'zoo.md').read_text()
    for name in rows:
        assert f'| {name}' in md
    assert '**error**' in md and '(zoo_speed_vs_macs.png)' in md
    assert 'benchmark_zoo.py --quick' in md
    for png in ('zoo_speed_vs_macs.png', 'zoo_memory_vs_pixels.png'):
        assert (out / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    raw = json.loads((out / 'zoo.json').read_text())
    samples = raw['results']['tiny-HorNet']['times']
    assert all(len(v) == 1 for v in samples.values())  # --quick: 1 pass
    section = readme.read_text()
    assert section.startswith('intro\n<!-- zoo:begin -->\n## Model zoo')
    assert section.endswith('<!-- zoo:end -->\noutro\n')
    assert 'old' not in section and '(out/zoo_speed_vs_macs.png)' in section
