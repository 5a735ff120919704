"""mmengine's ``compile`` runner option with a shipped config (issue 19).

The runner wraps ``model.train_step`` in ``torch.compile(**cfg.compile)``.
The suite compiles with ``aot_eager`` (dynamo capture + AOTAutograd, the
parts that decide graphs, breaks and the backward), not inductor: inductor's
C++ compile of the training step takes minutes on 2 cores (README,
torch.compile).
"""
import argparse
import os.path as osp
from typing import Optional, Tuple

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmhybrid.utils.setup_env import load_config
from mmhybrid.utils.toy_data import make_ade

QUICKSTART = osp.join(osp.dirname(osp.dirname(__file__)), 'configs',
                      'quickstart', 'semantic_fpn_hornet_toy.py')

#: The dynamo graphs of the last compiled run.
GRAPHS = []
#: A recording ``aot_eager``, registered by name: the runner writes its
#: config (``compile`` included) as Python text, where a function object
#: cannot go.
BACKEND = 'mmhybrid_test_recording_aot_eager'


def recording_aot_eager(gm: torch.fx.GraphModule, example_inputs):
    GRAPHS.append(gm)
    return torch._dynamo.lookup_backend('aot_eager')(gm, example_inputs)


if BACKEND not in torch._dynamo.list_backends(exclude_tags=()):
    torch._dynamo.register_backend(recording_aot_eager, name=BACKEND)


class RecordWeights(Hook):
    """Copies the initialised weights into ``into`` before the step."""

    def __init__(self, into: dict):
        self.into = into

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.into.update({k: v.detach().clone()
                          for k, v in runner.model.state_dict().items()})


def train_one_iter(data_root: str, work_dir: str, compile_cfg=None,
                   before: Optional[dict] = None) -> Tuple[dict, float]:
    """One training iteration of the quickstart config, loaded as
    ``tools/train.py`` loads it; returns the weights after the step and the
    step's loss (and the weights before it in ``before``)."""
    args = argparse.Namespace(
        config=QUICKSTART, launcher='none', data_root=data_root,
        work_dir=work_dir, cfg_options=dict(
            randomness=dict(seed=0), train_cfg=dict(max_iters=1),
            default_hooks=dict(checkpoint=dict(interval=-1,
                                               save_last=False))))
    cfg = load_config(args)
    # training only: no validation loop to build or run
    cfg.train_cfg.val_interval = 1000
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    if compile_cfg is not None:
        cfg.compile = compile_cfg
    runner = Runner.from_cfg(cfg)
    if before is not None:
        runner.register_hook(RecordWeights(before))
    runner.train()
    loss = runner.message_hub.get_scalar('train/loss').current()
    return {k: v.detach().clone()
            for k, v in runner.model.state_dict().items()}, float(loss)


def module_paths(gm: torch.fx.GraphModule) -> set:
    """The top-level submodules (``backbone``, ``neck``, ...) whose
    operations are in the dynamo graph ``gm``."""
    paths = set()
    for node in gm.graph.nodes:
        for path, _ in (node.meta.get('nn_module_stack') or {}).values():
            # dynamo names them L['self'].backbone... or self.backbone...
            parts = path.replace("L['self'].", '').split('.')
            name = parts[1] if parts[0] in ('self', 'L') else parts[0]
            paths.add(name.split('[')[0])
    return paths


@pytest.mark.slow
def test_runner_compile_option_quickstart(tmp_path):
    data_root = str(tmp_path / 'toy_ade')
    make_ade(data_root, num_train=8, num_val=1)
    GRAPHS.clear()
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    try:
        compiled, loss_c = train_one_iter(
            data_root, str(tmp_path / 'compiled'), dict(backend=BACKEND))
        breaks = dict(torch._dynamo.utils.counters['graph_break'])
    finally:
        torch._dynamo.reset()
    before = {}
    eager, loss_e = train_one_iter(data_root, str(tmp_path / 'eager'),
                                   before=before)

    # the compiled path ran, and the whole backbone and neck forward is one
    # graph: no graph break inside mmhybrid's modules
    graphs = list(GRAPHS)
    assert graphs, 'the runner did not compile train_step'
    with_backbone = [g for g in graphs if 'backbone' in module_paths(g)]
    assert len(with_backbone) == 1, (len(with_backbone), breaks)
    assert 'neck' in module_paths(with_backbone[0]), breaks

    assert compiled.keys() == eager.keys()
    assert abs(loss_c - loss_e) <= 1e-5 * abs(loss_e), (loss_c, loss_e)
    # AdamW's first step moves each weight by lr * g / (|g| + eps), i.e.
    # +-lr (2e-4) wherever |g| >> eps: a gradient element that is rounding
    # noise around zero (a bias before a norm, ...) may take either sign in
    # the two runs, its weights then differing by 2 lr (measured: 664 of
    # 1.9M elements with ATEN_CPU_CAPABILITY=default on an AMD EPYC, none
    # with its AVX2 kernels). Elsewhere the weights agree to float32
    # rounding; the losses were equal.
    off = total = 0
    for k in eager:
        diff = (compiled[k].float() - eager[k].float()).abs()
        off += int((diff > 2e-5).sum())
        total += diff.numel()
    assert off <= 1e-3 * total, (off, total)
    # the step moved the weights by much more than rounding
    step = max(float((eager[k].float() - before[k].float()).abs().max())
               for k in eager)
    assert step > 1e-4, step


if __name__ == '__main__':
    pytest.main([__file__, '-q'])
