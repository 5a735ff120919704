"""The commands of README.md's ``bash`` blocks, run once per session as
written (the ``readme_run`` fixture of ``tests/conftest.py``).

The commands are read from the README itself, so a command that is edited,
added or broken there is what runs. Only options that shorten schedules and
datasets are added (:data:`SHORTEN`), and ``iter_400.pth`` (the end of the
full quickstart schedule) becomes the last checkpoint of the shortened run.
Everything runs in a scratch folder that holds links to ``tools/``,
``configs/`` and ``docs/``, so ``data/`` and ``work_dirs/`` land there.

``tests/test_readme.py`` checks that every command succeeds;
``tests/test_tools.py`` reads the quickstart's 1-process and 2-process
evaluations of the same checkpoint from the same run.
"""
import argparse
import os
import os.path as osp
import re
import shlex
import shutil
import socket
import subprocess
import sys
from typing import List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The setup block: what ``.ci/run`` runs before the suite, not run again.
SETUP = ['bash tools/install.sh',
         'python -m pytest -q -n 2 --dist loadgroup tests']

#: script -> {config (or ''): options appended to shorten its run}.
SHORTEN = {
    # 5 validation images: odd, so 2 ranks get unequal shares
    'tools/misc/make_toy_data.py': {
        '': ['--num-train', '16', '--num-val', '5'],
    },
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


def readme_commands() -> List[str]:
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


def free_port() -> str:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def shortened(argv: List[str]) -> List[str]:
    script = next((a for a in argv if a.startswith('tools/')), None)
    for config, options in SHORTEN.get(script, {}).items():
        if any(a.endswith(config) for a in argv):
            # later options win: --cfg-options merges, argparse overrides
            return argv + (['--cfg-options'] if config else []) + options
    return argv


class ReadmeRun:
    """The README's commands after the setup block, run in order in
    ``workdir`` until one fails.

    Attributes:
        workdir (str): Where they ran (``data/``, ``work_dirs/``).
        commands (list[str]): The commands, as the README writes them.
        results (list[CompletedProcess]): One per command that ran.
    """

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.commands = readme_commands()[len(SETUP):]
        self.results: List[subprocess.CompletedProcess] = []
        for name in ('tools', 'configs', 'docs'):
            os.symlink(osp.join(ROOT, name), osp.join(workdir, name))
        shutil.copy(osp.join(ROOT, 'README.md'), workdir)  # zoo --readme
        write_official_hornet_t(osp.join(workdir, 'hornet_tiny_7x7.pth'))
        env = {**os.environ, 'PYTHONPATH': ROOT, 'OMP_NUM_THREADS': '1',
               'PORT': free_port(), 'PYTHON': sys.executable}
        for command in self.commands:
            argv = shortened(shlex.split(command.replace(
                'iter_400.pth', 'iter_4.pth')))
            if argv[0] == 'python':
                argv[0] = sys.executable
            proc = subprocess.run(argv, cwd=workdir, env=env,
                                  capture_output=True, text=True)
            self.results.append(proc)
            if proc.returncode:
                break

    def output(self, *words: str) -> Optional[str]:
        """stdout + stderr of the first command that contains all
        ``words`` (None if there is none or it did not run)."""
        for command, proc in zip(self.commands, self.results):
            if all(w in command for w in words):
                return proc.stdout + proc.stderr
        return None


def write_official_hornet_t(path: str) -> None:
    """An official HorNet-T release for the converter example, in the
    layout raoyongming/HorNet's main.py saves (``module.`` keys, the stem
    as ``downsample_layers.0``, a 1000-class head, the training args)."""
    import torch

    from mmhybrid.models.backbones import HorNet
    official = {'module.downsample_layers.0.' + k[len('stem.'):]
                if k.startswith('stem.') else 'module.' + k: v
                for k, v in HorNet(arch='t').state_dict().items()}
    official['module.head.weight'] = torch.zeros(1000, 768)
    torch.save({'model': official, 'args': argparse.Namespace(lr=4e-3)},
               path)
