"""End-to-end tests of tools/: train, resume after kill -9, distributed
train and test on CPU processes, --amp without a GPU, the errors for a
missing dataset or an unreachable checkpoint URL.

They run the real scripts in subprocesses on a small toy ADE20K-layout set:
the resume test with a tiny BN Semantic FPN (tests/configs/fpn_example_toy.py),
the distributed and AMP tests with the shipped quickstart config (SyncBN
heads, as every mmseg config), shortened. The 1-process vs 2-process
evaluation compares the README's own quickstart commands (the session's
``readme_run``, tests/readme_run.py): one trained checkpoint, one
2-process run, shared with tests/test_readme.py.
"""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch

from tests.in_process import run_script
from tests.readme_run import free_port

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'tests', 'configs', 'fpn_example_toy.py')
QUICKSTART = 'configs/quickstart/semantic_fpn_hornet_toy.py'
#: the README's quickstart command, shortened to 4 iterations
SHORT = ['--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
         'default_hooks.checkpoint.interval=4']
ENV = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1',
       'PYTHON': sys.executable}


def run(*args, check=True, **kwargs):
    proc = subprocess.run([*args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


@pytest.fixture(scope='module')
def toy_ade(tmp_path_factory):
    from mmhybrid.utils.toy_data import make_ade
    root = str(tmp_path_factory.mktemp('data') / 'toy_ade')
    make_ade(root, num_train=16, num_val=5)  # odd: ranks get unequal shares
    return root


def train(work_dir, data_root, *extra, check=True):
    return run(sys.executable, 'tools/train.py', CONFIG, '--work-dir',
               str(work_dir), '--data-root', data_root, *extra, check=check)


def weights(path):
    return torch.load(path, map_location='cpu',
                      weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def trained(tmp_path_factory, toy_ade):
    work_dir = tmp_path_factory.mktemp('full')
    train(work_dir, toy_ade)
    return work_dir


@pytest.mark.xdist_group('tools_trained')
def test_resume_after_kill(tmp_path, toy_ade, trained):
    # 4 iterations per epoch: die in the middle of epoch 3 (iteration 10)
    killed = train(tmp_path, toy_ade, '--cfg-options',
                   'custom_hooks.0.at_iter=10',
                   check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert osp.exists(tmp_path / 'epoch_2.pth')
    assert not osp.exists(tmp_path / 'epoch_3.pth')
    resumed = train(tmp_path, toy_ade, '--resume')
    assert 'resumed epoch: 2, iter: 8' in resumed.stdout + resumed.stderr
    final, reference = weights(tmp_path / 'epoch_4.pth'), weights(
        trained / 'epoch_4.pth')
    assert final.keys() == reference.keys()
    for k in final:
        torch.testing.assert_close(final[k], reference[k], msg=k)
    meta = torch.load(tmp_path / 'epoch_4.pth', weights_only=True)['meta']
    assert meta['epoch'] == 4 and meta['iter'] == 16


def logged_metrics(log):
    """The metrics of the last ``Iter(test)`` line of a log."""
    lines = [line for line in log.splitlines() if 'Iter(test)' in line
             and 'mIoU' in line]
    assert lines, log[-3000:]
    return dict(re.findall(r'(aAcc|mIoU|mAcc): (\S+)', lines[-1]))


@pytest.mark.xdist_group('readme_run')
def test_dist_test_equals_single(readme_run):
    """The README's 1-process and 2-process evaluations of the quickstart
    checkpoint (SyncBN heads; 5 images: ranks get unequal shares) give
    identical metrics."""
    single = readme_run.output('tools/test.py', QUICKSTART)
    dist = readme_run.output('tools/dist_test.sh', QUICKSTART, ' 2 ')
    assert single is not None and dist is not None, \
        'the README quickstart did not get to its evaluations'
    assert 'Distributed training: True' in dist
    if not torch.cuda.is_available():
        assert 'reverted' in dist and 'SyncBN layers to BatchNorm' in dist
    assert 'Distributed training: False' in single
    metrics = logged_metrics(single)
    assert set(metrics) == {'aAcc', 'mIoU', 'mAcc'}
    assert logged_metrics(dist) == metrics


@pytest.mark.slow
def test_dist_train_quickstart(tmp_path, toy_ade, monkeypatch):
    monkeypatch.setitem(ENV, 'PORT', free_port())
    proc = run('bash', 'tools/dist_train.sh', QUICKSTART, '2', '--work-dir',
               str(tmp_path), '--data-root', toy_ade, *SHORT)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert osp.exists(tmp_path / 'iter_4.pth')


def test_missing_dataset_says_what_to_do(tmp_path):
    proc = run_script('tools/train.py', QUICKSTART, '--work-dir', tmp_path,
                      '--data-root', tmp_path / 'nowhere')
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert any('nowhere' in line and 'does not exist' in line
               for line in err), proc.stderr[-2000:]
    assert 'make_toy_data.py' in proc.stderr


def test_unreachable_checkpoint_says_what_to_do(tmp_path, toy_ade):
    url = 'http://127.0.0.1:9/hornet_tiny_7x7.pth'  # closed port: offline
    proc = run_script('tools/train.py', QUICKSTART, '--work-dir', tmp_path,
                      '--data-root', toy_ade, '--cfg-options',
                      'model.backbone.init_cfg.type=Pretrained',
                      f'model.backbone.init_cfg.checkpoint={url}')
    assert proc.returncode != 0
    assert f'could not download the checkpoint {url}' in proc.stderr
    assert 'model.backbone.init_cfg.checkpoint=PATH' in proc.stderr


@pytest.mark.xdist_group('tools_trained')
def test_show_dir_writes_drawn_predictions(tmp_path, toy_ade, trained):
    run(sys.executable, 'tools/test.py', CONFIG,
        str(trained / 'epoch_4.pth'), '--work-dir', str(tmp_path / 'wd'),
        '--data-root', toy_ade, '--show-dir', str(tmp_path / 'vis'))
    drawn = glob.glob(str(tmp_path / 'vis' / '**' / '*.png'), recursive=True)
    assert len(drawn) == 5, drawn
