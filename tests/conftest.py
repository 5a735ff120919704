import functools
import os

import pytest
import torch
from mmengine.registry import DefaultScope


def pytest_configure(config):
    """Parse configs faster, and one torch thread per xdist worker.

    The suite runs as ``python -m pytest -q -n 2 --dist loadgroup tests``
    (README, ``.ci/run``; pytest-xdist) or, slower, without ``-n``.

    mmengine resolves every ``mmdet::``/``mmseg::``/``mmpretrain::`` base
    of a config by loading that package's whole ``model-index.yml`` and its
    ~100 metafiles again, and by reloading ``pkg_resources`` to ask whether
    the package is installed: ~0.3 s of each ``Config.fromfile``, paid ~300
    times in a session. Both answers cannot change while the suite runs, so
    they are cached here (same files, same results: the configs parse as
    they do for users). Under ``pytest -n 2`` each worker takes one core.
    """
    from mmengine.config import config as mm_config
    from mmengine.config import utils as mm_config_utils
    mm_config_utils.load = functools.lru_cache(maxsize=None)(
        mm_config_utils.load)
    mm_config.is_installed = functools.lru_cache(maxsize=None)(
        mm_config.is_installed)
    if os.environ.get('PYTEST_XDIST_WORKER'):
        torch.set_num_threads(1)
    if os.environ.get('ATEN_CPU_CAPABILITY') == 'default':
        # torch 2.14's inductor still emits vectorised C++ (at::vec) that
        # does not compile when ATen's kernels are pinned to 'default'
        # (the suite's second CPU kernel path): scalar code there
        import torch._inductor.config as inductor_config
        inductor_config.cpp.simdlen = 1
    # tests sharing an expensive fixture run on one worker
    # (``--dist loadgroup``); the mark means nothing without pytest-xdist
    config.addinivalue_line(
        'markers', 'xdist_group(name): run on the same xdist worker')
    config.addinivalue_line(
        'markers', 'slow: over ~10 s; collected first (see below)')


def pytest_collection_modifyitems(config, items):
    """Slow tests first. pytest-xdist hands tests to the workers in
    collection order (groups of several tests before single ones), so a
    slow test collected last keeps one worker busy while the other idles:
    ~1 min of the suite's wall time on 2 cores."""
    items.sort(key=lambda item: item.get_closest_marker('slow') is None)


@pytest.fixture(autouse=True)
def _seed_and_fresh_scope():
    """Every test starts seeded and with no default registry scope.

    Runner-based tests leave mmdet's or mmseg's scope as the global default,
    in which mmhybrid's own names (``type='HorNet'``) do not resolve; each
    test gets the pristine state back.
    """
    torch.manual_seed(0)
    saved = DefaultScope._instance_dict.copy()
    DefaultScope._instance_dict.clear()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture(scope='session')
def readme_run(tmp_path_factory):
    """README.md's commands, run once as written (shortened), shared by
    tests/test_readme.py and tests/test_tools.py: one trained quickstart
    checkpoint, evaluated on 1 and on 2 processes."""
    from tests.readme_run import ReadmeRun
    return ReadmeRun(str(tmp_path_factory.mktemp('readme')))
