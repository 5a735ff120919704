"""The OpenMMLab model index of mmhybrid: ``model-index.yml`` and the
per-family ``configs/<family>/metafile.yml`` (mmdet / mmpretrain schema).

What reads it:

- ``mim search mmhybrid`` (openmim), from ``mmhybrid/.mim/model-index.yml``
  (``setup.py`` ships it with ``configs/`` and ``tools/``);
- ``tools/test.py``, which prints the published figure next to the measured
  one (:func:`published_metrics`, :func:`format_comparison`);
- the per-family README result tables, generated from the metafiles
  (:func:`render_table`, ``python tools/misc/model_index.py --readme``).
"""
import numbers
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

#: repository root when running from a checkout; the package's ``.mim``
#: folder when installed
_PKG = osp.dirname(osp.dirname(osp.abspath(__file__)))


def index_root() -> str:
    """The folder holding ``model-index.yml``: the checkout, or the
    installed package's ``.mim``."""
    for root in (osp.dirname(_PKG), osp.join(_PKG, '.mim')):
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise FileNotFoundError('model-index.yml not found next to mmhybrid')


def load_index(root: Optional[str] = None) -> List[Dict]:
    """Every model of every metafile ``model-index.yml`` imports, with its
    collection's fields under ``'Collection'``."""
    root = root or index_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for path in index['Import']:
        with open(osp.join(root, path)) as f:
            meta = yaml.safe_load(f)
        collections = {c['Name']: c for c in meta.get('Collections', [])}
        for model in meta['Models']:
            model = dict(model)
            model['Collection'] = collections.get(model.get('In Collection'))
            model['Metafile'] = path
            models.append(model)
    return models


def model_for_config(config: str, root: Optional[str] = None
                     ) -> Optional[Dict]:
    """The index entry whose ``Config`` is ``config`` (any path ending in
    ``configs/<family>/<name>.py``), or None."""
    match = re.search(r'configs[/\\][^/\\]+[/\\][^/\\]+\.py$', config)
    if match is None:
        return None
    key = match.group(0).replace('\\', '/')
    try:
        models = load_index(root)
    except FileNotFoundError:
        return None
    return next((m for m in models if m.get('Config') == key), None)


#: metric keys of the evaluators -> (metafile metric, scale to the
#: metafile's unit: mmdet reports 0.517 for 51.7)
EVALUATOR_METRICS = {
    'coco/bbox_mAP': ('box AP', 100),
    'coco/segm_mAP': ('mask AP', 100),
    'mIoU': ('mIoU', 1),
    'accuracy/top1': ('Top 1 Accuracy', 1),
    'accuracy/top5': ('Top 5 Accuracy', 1),
}


def published_metrics(model: Dict) -> Dict[str, float]:
    """``{metric name: value}`` over all results of a metafile entry."""
    out = {}
    for result in model.get('Results') or []:
        out.update(result.get('Metrics') or {})
    return out


def format_comparison(metrics: Dict[str, float], model: Dict,
                      tta: bool = False) -> List[str]:
    """``'bbox_mAP 0.517 (published 51.7)'`` for every measured metric the
    metafile publishes; with ``tta``, mIoU is compared with the published
    multi-scale + flip figure."""
    published = published_metrics(model)
    lines = []
    for key, value in metrics.items():
        name, _ = EVALUATOR_METRICS.get(key, (None, 1))
        if tta and name == 'mIoU':
            name = 'mIoU(ms+flip)'
        if name in published and isinstance(value, numbers.Real):
            short = key.split('/')[-1]
            lines.append(f'{short} {value:.4g} (published {published[name]})')
    return lines


# ------------------------------------------------------------ README ---
def _fmt_count(n: Optional[float], unit: float, suffix: str) -> str:
    return f'{n / unit:.2f}{suffix}' if n else '—'


def render_table(models: Sequence[Dict], readme_dir: str) -> str:
    """A markdown result table of ``models`` (one metafile's entries of one
    task), relative links from ``readme_dir``."""
    metrics: List[str] = []
    for m in models:
        for name in published_metrics(m):
            if name not in metrics:
                metrics.append(name)
    head = ['model', 'pretrain'] + metrics + ['#params', 'FLOPs', 'config',
                                              'weights']
    rows = ['| ' + ' | '.join(head) + ' |',
            '|' + '|'.join(['---'] * 2 + [':-:'] * (len(metrics) + 2) +
                           ['---'] * 2) + '|']
    for m in models:
        meta = m.get('Metadata') or {}
        data = meta.get('Training Data')
        data = [data] if isinstance(data, str) else list(data or [])
        config = osp.relpath(m['Config'], readme_dir)
        weights = f"[weights]({m['Weights']})" if m.get('Weights') else '—'
        published = published_metrics(m)
        cells = [m['Name'], data[0] if data else '—'] + [
            str(published.get(k, '—')) for k in metrics] + [
            _fmt_count(meta.get('Parameters'), 1e6, 'M'),
            _fmt_count(meta.get('FLOPs'), 1e9, 'G'),
            f'[config]({config})', weights]
        rows.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


BEGIN = '<!-- model-index table: {} -->'
END = '<!-- end of model-index table -->'


def task_groups(models: Sequence[Dict]) -> List[Tuple[str, List[Dict]]]:
    """Entries grouped by their first result's task, in metafile order."""
    groups: Dict[str, List[Dict]] = {}
    for m in models:
        task = (m.get('Results') or [{}])[0].get('Task', 'Other')
        groups.setdefault(task, []).append(m)
    return list(groups.items())


def render_readme(text: str, metafile: str, root: str) -> str:
    """``text`` with every ``<!-- model-index table: TASK -->`` ... ``<!--
    end of model-index table -->`` block regenerated from ``metafile``."""
    with open(osp.join(root, metafile)) as f:
        models = yaml.safe_load(f)['Models']
    readme_dir = osp.dirname(metafile)
    for task, group in task_groups(models):
        begin = BEGIN.format(task)
        pattern = re.compile(re.escape(begin) + r'.*?' + re.escape(END),
                             re.S)
        table = render_table(group, readme_dir)
        text = pattern.sub(
            lambda _: f'{begin}\n{table}\n{END}', text)
    return text
