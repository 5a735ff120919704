"""Every command in README.md's ``bash`` blocks runs, as written.

The commands are read from the README itself, so a command that is edited,
added or broken there is what this test runs. Only options that shorten
schedules and datasets are added (:data:`SHORTEN`), and ``iter_400.pth`` (the
end of the full quickstart schedule) becomes the last checkpoint of the
shortened run. Everything runs in a scratch folder that holds links to
``tools/`` and ``configs/``, so ``data/`` and ``work_dirs/`` land there.

The 1-process vs 2-process metric equality of the quickstart evaluation is
checked in ``tests/test_tools.py``. The setup block's two commands are what
``.ci/run`` runs before this suite (checked here), so they are not run again
from inside it.
"""
import os
import os.path as osp
import re
import shlex
import shutil
import socket
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SETUP = ['bash tools/install.sh', 'python -m pytest -q tests']

#: script -> options appended to shorten its run (schedules, dataset sizes).
SHORTEN = {
    'tools/train.py': {
        'mask_rcnn_hornet_toy.py': [
            'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
            'train_dataloader.dataset.indices=8',
            'val_dataloader.dataset.indices=4'],
        'semantic_fpn_hornet_toy.py': [
            'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
            'default_hooks.checkpoint.interval=4'],
    },
    # the whole zoo takes ~30 min: one small model, one size, one pass
    'tools/analysis_tools/benchmark_zoo.py': {
        '': ['--quick', '--models', 'HorNet-T', '--sizes', '64',
             '--batch-224', '1', '--out-dir', 'zoo_out'],
    },
}


def readme_commands():
    """The commands of README.md's ```bash blocks, continuations joined and
    comments dropped."""
    with open(osp.join(ROOT, 'README.md')) as f:
        text = f.read()
    commands = []
    for block in re.findall(r'```bash\n(.*?)```', text, re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #')[0].strip()
            if line and not line.startswith('#'):
                commands.append(' '.join(line.split()))
    return commands


def test_setup_block_is_what_ci_runs():
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci = [line.strip() for line in f if line.strip()
              and not line.startswith(('#', 'set ', 'cd '))]
    assert ci == SETUP
    assert readme_commands()[:2] == SETUP


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def shortened(argv):
    script = next((a for a in argv if a.startswith('tools/')), None)
    for config, options in SHORTEN.get(script, {}).items():
        if any(a.endswith(config) for a in argv):
            # later options win: --cfg-options merges, argparse overrides
            return argv + (['--cfg-options'] if config else []) + options
    return argv


def test_readme_commands_run_as_written(tmp_path):
    import torch

    from mmhybrid.models.backbones import HorNet
    for name in ('tools', 'configs', 'docs'):
        os.symlink(osp.join(ROOT, name), tmp_path / name)
    shutil.copy(osp.join(ROOT, 'README.md'), tmp_path)  # zoo --readme
    # the converter example reads an official HorNet-T release; make one in
    # the official layout (what raoyongming/HorNet's main.py saves)
    import argparse
    official = {'module.downsample_layers.0.' + k[len('stem.'):]
                if k.startswith('stem.') else 'module.' + k: v
                for k, v in HorNet(arch='t').state_dict().items()}
    official['module.head.weight'] = torch.zeros(1000, 768)
    torch.save({'model': official, 'args': argparse.Namespace(lr=4e-3)},
               tmp_path / 'hornet_tiny_7x7.pth')

    env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1',
           'PORT': free_port(), 'PYTHON': sys.executable}
    commands = readme_commands()[len(SETUP):]
    assert commands, 'README.md has no commands besides setup'
    ran = []
    for command in commands:
        argv = shortened(shlex.split(command.replace(
            'iter_400.pth', 'iter_4.pth')))
        if argv[0] == 'python':
            argv[0] = sys.executable
        proc = subprocess.run(argv, cwd=tmp_path, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, (
            f'README command failed ({proc.returncode}): {command}\n'
            f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
        ran.append(command)
    # the commands users rely on most are in the README and ran
    for needed in ('make_toy_data.py', 'tools/train.py', 'tools/test.py',
                   'tools/dist_test.sh', 'convert_checkpoint.py'):
        assert any(needed in c for c in ran), needed
