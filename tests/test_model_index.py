"""The OpenMMLab model index: ``model-index.yml`` and every
``configs/<family>/metafile.yml`` (mmdet / mmpretrain schema), the README
tables generated from them, and the published figures ``tools/test.py``
prints."""
import glob
import os.path as osp
from numbers import Number

import pytest
import torch
import yaml
from mmengine.config import Config

from mmhybrid.utils.model_index import (format_comparison, load_index,
                                        model_for_config, render_readme)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX = yaml.safe_load(open(osp.join(ROOT, 'model-index.yml')))
METAFILES = sorted(INDEX['Import'])
MODELS = load_index(ROOT)
TASKS = {
    'Image Classification': {'Top 1 Accuracy', 'Top 5 Accuracy'},
    'Object Detection': {'box AP'},
    'Instance Segmentation': {'mask AP'},
    'Semantic Segmentation': {'mIoU', 'mIoU(ms+flip)'},
}


def test_index_imports_every_metafile():
    found = sorted(osp.relpath(p, ROOT) for p in glob.glob(
        osp.join(ROOT, 'configs', '*', 'metafile.yml')))
    assert METAFILES == found
    names = [m['Name'] for m in MODELS]
    assert len(names) == len(set(names)), 'model names must be unique'


@pytest.mark.parametrize('metafile', METAFILES)
def test_metafile_schema(metafile):
    meta = yaml.safe_load(open(osp.join(ROOT, metafile)))
    assert set(meta) == {'Collections', 'Models'}
    collections = {}
    for c in meta['Collections']:
        assert {'Name', 'Metadata', 'Paper', 'README'} <= set(c), c
        assert set(c['Paper']) == {'URL', 'Title'}
        assert c['Paper']['URL'].startswith('https://')
        assert osp.isfile(osp.join(ROOT, c['README']))
        if 'Code' in c:
            assert c['Code']['URL'].startswith('https://')
        collections[c['Name']] = c
    for m in meta['Models']:
        assert {'Name', 'In Collection', 'Config', 'Metadata',
                'Results'} <= set(m), m['Name']
        assert set(m) <= {'Name', 'In Collection', 'Config', 'Metadata',
                          'Results', 'Weights', 'Converted From'}, m['Name']
        assert m['In Collection'] in collections
        assert osp.isfile(osp.join(ROOT, m['Config'])), m['Config']
        assert osp.dirname(m['Config']) == osp.dirname(metafile)
        md = m['Metadata']
        assert md['Training Data'], m['Name']
        assert isinstance(md['Parameters'], int) and md['Parameters'] > 0
        assert ('Epochs' in md) != ('Iterations' in md)
        if 'FLOPs' in md:
            assert isinstance(md['FLOPs'], int) and md['FLOPs'] > 0
        assert m['Results'], m['Name']
        for result in m['Results']:
            assert set(result) == {'Task', 'Dataset', 'Metrics'}
            assert set(result['Metrics']) <= TASKS[result['Task']]
            assert all(isinstance(v, Number) and 0 < v < 100
                       for v in result['Metrics'].values())
        if 'Weights' in m:
            assert m['Weights'].startswith('https://'), m['Name']


@pytest.mark.parametrize('model', MODELS, ids=[m['Name'] for m in MODELS])
def test_params_equal_the_built_model(model):
    from mmengine.registry import MODELS as ROOT_MODELS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(ROOT, model['Config']))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    with torch.device('meta'):
        built = ROOT_MODELS.build(cfg.model)
    params = sum(p.numel() for p in built.parameters())
    assert model['Metadata']['Parameters'] == params


@pytest.mark.parametrize('metafile', METAFILES)
def test_readme_tables_are_generated_from_the_metafile(metafile):
    """``python tools/misc/model_index.py --readme`` leaves the README as it
    is, and the README has a generated table for every task."""
    readme = osp.join(ROOT, osp.dirname(metafile), 'README.md')
    text = open(readme).read()
    assert render_readme(text, metafile, ROOT) == text, \
        f'run python tools/misc/model_index.py --readme ({readme})'
    tasks = {m['Results'][0]['Task'] for m in yaml.safe_load(
        open(osp.join(ROOT, metafile)))['Models']}
    for task in tasks:
        assert f'<!-- model-index table: {task} -->' in text, (readme, task)


def test_published_figures_for_tools_test():
    model = model_for_config(
        '/anywhere/configs/hornet/cascade_mask_rcnn_hornet_t_3x.py', ROOT)
    lines = format_comparison(
        {'coco/bbox_mAP': 0.517, 'coco/segm_mAP': 0.447, 'coco/x': 1.}, model)
    assert lines == ['bbox_mAP 0.517 (published 51.7)',
                     'segm_mAP 0.447 (published 44.8)']
    model = model_for_config('configs/hornet/upernet_hornet_t_160k.py', ROOT)
    assert format_comparison({'mIoU': 48.0}, model, tta=True) == \
        ['mIoU 48 (published 48.9)']
    assert model_for_config('configs/hornet/mask_rcnn_hornet_t_1x.py',
                            ROOT) is None
