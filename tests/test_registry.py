"""mmhybrid modules are reachable from mmdet, mmseg and mmpretrain scopes."""
import subprocess
import sys

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmhybrid  # noqa: F401
from mmhybrid.registry import MODELS

TINY = dict(type='mmhybrid.HorNet',
            arch=dict(base_dim=8, depths=[1, 1, 1, 1], orders=[2, 3, 4, 5]))


@pytest.mark.parametrize('scope,registry', [
    ('mmdet', 'mmdet.registry'), ('mmseg', 'mmseg.registry'),
    ('mmpretrain', 'mmpretrain.registry')])
def test_build_from_host_scope(scope, registry):
    host = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = host.build(dict(TINY))
    assert type(model).__module__ == 'mmhybrid.models.backbones.hornet'
    assert MODELS.scope == 'mmhybrid'


def test_necks_and_heads_registered():
    for name in ('HorNet', 'HorFPN', 'GNUPerHead'):
        assert MODELS.get(name) is not None, name


def test_custom_imports_in_a_fresh_process(tmp_path):
    """The user's path: a config with custom_imports and default_scope mmdet,
    built in a process that never imported mmhybrid itself."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "default_scope = 'mmdet'\n"
        "custom_imports = dict(imports=['mmhybrid'], "
        'allow_failed_imports=False)\n'
        f'model = {TINY!r}\n')
    code = (
        'import sys; from mmengine.config import Config; '
        'from mmengine.registry import init_default_scope; '
        'from mmdet.registry import MODELS; '
        f'cfg = Config.fromfile({str(cfg)!r}); '
        'init_default_scope(cfg.default_scope); '
        'm = MODELS.build(cfg.model); print(type(m).__name__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == 'HorNet'


def test_import_without_mmdet_and_mmseg():
    """Backbones import with mmdet and mmseg unavailable; HorFPN and
    GNUPerHead register only with them."""
    code = ('import sys; sys.modules["mmdet"] = None; '
            'sys.modules["mmseg"] = None; import mmhybrid; '
            'from mmhybrid.registry import MODELS; '
            'names = set(MODELS.module_dict); '
            'assert "HorNet" in names, names; '
            'assert not names & {"HorFPN", "GNUPerHead"}, names; '
            'print("ok")')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True)
    assert out.stdout.strip() == 'ok', out.stderr[-2000:]


def test_config_parses_with_mmdet_base():
    """mmengine's `mmdet::` base-config lookup needs pkg_resources."""
    cfg = Config.fromfile('configs/quickstart/mask_rcnn_hornet_toy.py')
    assert cfg.model.backbone.type == 'mmhybrid.HorNet'
