import pytest
import torch
from mmengine.registry import DefaultScope


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
