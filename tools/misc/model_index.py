"""Keep the model index (``configs/*/metafile.yml``) and the READMEs in step.

    # Parameters (and, for classifiers, FLOPs at the config's test crop)
    # computed from every metafile entry's config, written into the metafile
    python tools/misc/model_index.py --update
    # regenerate the README result tables from the metafiles
    python tools/misc/model_index.py --readme

FLOPs are multiply-adds (the papers' and OpenMMLab model zoos' "FLOPs"),
counted by ``mmhybrid.utils.flops`` (FFTs and fused attention included).
"""
import argparse
import os.path as osp
import re

import torch
import yaml
from mmengine.config import Config

from mmhybrid.utils.model_index import render_readme

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def build(config: str, device: str = 'meta') -> torch.nn.Module:
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with torch.device(device):
        return MODELS.build(cfg.model)


def count_params(config: str) -> int:
    return sum(p.numel() for p in build(config).parameters())


def classifier_macs(config: str) -> int:
    """MACs of the classifier at the size its test pipeline crops."""
    from mmhybrid.utils.flops import flop_analyzer
    cfg = Config.fromfile(osp.join(ROOT, config))
    size = next(t['crop_size'] for t in cfg.test_dataloader.dataset.pipeline
                if t['type'] == 'CenterCrop')
    model = build(config, 'cpu').eval()

    class Logits(torch.nn.Module):

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, mode='tensor')

    with torch.no_grad():
        analyzer = flop_analyzer(Logits(), (torch.rand(1, 3, size, size), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return analyzer.total()


def update(metafile: str) -> None:
    """Rewrite the ``Parameters:`` / ``FLOPs:`` lines of every entry."""
    path = osp.join(ROOT, metafile)
    text = open(path).read()
    models = yaml.safe_load(text)['Models']
    head, sep, body = text.partition('\nModels:\n')
    blocks = re.split(r'(?m)^(?=  - Name: )', body)
    assert len(blocks) == len(models) + 1, metafile
    out = [head + sep + blocks[0]]
    for block, model in zip(blocks[1:], models):
        params = count_params(model['Config'])
        block = re.sub(r'(?m)^(\s+Parameters:).*$', rf'\1 {params}', block)
        task = model['Results'][0]['Task']
        if task == 'Image Classification':
            macs = classifier_macs(model['Config'])
            block = re.sub(r'(?m)^(\s+FLOPs:).*$', rf'\1 {macs}', block)
        print(f"{model['Name']}: {params / 1e6:.2f}M params")
        out.append(block)
    open(path, 'w').write(''.join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--update', action='store_true',
                        help='compute Parameters / FLOPs into the metafiles')
    parser.add_argument('--readme', action='store_true',
                        help='regenerate the README result tables')
    args = parser.parse_args()
    import mmhybrid  # noqa: F401
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        metafiles = yaml.safe_load(f)['Import']
    for metafile in metafiles:
        if args.update:
            update(metafile)
        if args.readme:
            readme = osp.join(ROOT, osp.dirname(metafile), 'README.md')
            text = open(readme).read()
            new = render_readme(text, metafile, ROOT)
            if new != text:
                open(readme, 'w').write(new)
                print(f'updated {readme}')


if __name__ == '__main__':
    main()
