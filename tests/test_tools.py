"""End-to-end tests of tools/: train, resume after kill -9, distributed test.

They run the real scripts in subprocesses on a small toy ADE20K-layout set
with a tiny Semantic FPN (tests/configs/fpn_example_toy.py).
"""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'tests', 'configs', 'fpn_example_toy.py')
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


def read_metrics(work_dir):
    files = glob.glob(osp.join(str(work_dir), '*', '*.json'))
    assert files, f'no metrics json under {work_dir}'
    with open(sorted(files)[-1]) as f:
        return json.loads(f.readlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def test_dist_test_equals_single(tmp_path, toy_ade, trained, monkeypatch):
    ckpt = str(trained / 'epoch_4.pth')
    monkeypatch.setitem(ENV, 'PORT', free_port())
    run(sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir',
        str(tmp_path / 'single'), '--data-root', toy_ade)
    dist_run = run('bash', 'tools/dist_test.sh', CONFIG, ckpt, '2',
                   '--work-dir', str(tmp_path / 'dist'), '--data-root',
                   toy_ade)
    assert 'Distributed training: True' in dist_run.stdout + dist_run.stderr
    single = read_metrics(tmp_path / 'single')
    dist = read_metrics(tmp_path / 'dist')
    assert single['mIoU'] == dist['mIoU'] and single['aAcc'] == dist['aAcc']
    assert single['mIoU'] > 0


def test_show_dir_writes_drawn_predictions(tmp_path, toy_ade, trained):
    run(sys.executable, 'tools/test.py', CONFIG,
        str(trained / 'epoch_4.pth'), '--work-dir', str(tmp_path / 'wd'),
        '--data-root', toy_ade, '--show-dir', str(tmp_path / 'vis'))
    drawn = glob.glob(str(tmp_path / 'vis' / '**' / '*.png'), recursive=True)
    assert len(drawn) == 5, drawn
