"""Every command in README.md's ``bash`` blocks runs, as written.

The commands run once per session (``tests/readme_run.py``, the
``readme_run`` fixture), with only options that shorten schedules and
datasets added. The 1-process vs 2-process metric equality of the
quickstart evaluation is checked on the same run in ``tests/test_tools.py``.
The setup block's two commands are what ``.ci/run`` runs before this suite
(checked here), so they are not run again from inside it.
"""
import os.path as osp

import pytest

from tests.readme_run import ROOT, SETUP, readme_commands


def test_setup_block_is_what_ci_runs():
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci = [line.strip() for line in f if line.strip()
              and not line.startswith(('#', 'set ', 'cd '))]
    assert ci == SETUP
    assert readme_commands()[:2] == SETUP


@pytest.mark.xdist_group('readme_run')
def test_readme_commands_run_as_written(readme_run):
    assert readme_run.commands, 'README.md has no commands besides setup'
    for command, proc in zip(readme_run.commands, readme_run.results):
        assert proc.returncode == 0, (
            f'README command failed ({proc.returncode}): {command}\n'
            f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    assert len(readme_run.results) == len(readme_run.commands)
    # the commands users rely on most are in the README and ran
    for needed in ('make_toy_data.py', 'tools/train.py', 'tools/test.py',
                   'tools/dist_test.sh', 'convert_checkpoint.py'):
        assert any(needed in c for c in readme_run.commands), needed
