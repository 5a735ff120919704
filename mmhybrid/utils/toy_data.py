"""Small, deterministic datasets in the real COCO and ADE20K layouts.

The quickstart, the tests and ``--data-root`` smoke runs use them in place of
COCO and ADE20K, which cannot be downloaded here. The content is learnable in
minutes on a CPU: circles, squares and triangles, each in its own range of
colours, with occlusions, on textured backgrounds.

- COCO layout: ``annotations/instances_{train,val}2017.json`` and
  ``{train,val}2017/*.jpg``. The JSON declares all 80 COCO categories, so
  stock COCO configs run unchanged; the shapes use three of them
  (:data:`COCO_SHAPE_CLASSES`). Fully visible objects carry polygon masks,
  occluded ones RLE masks of their visible part.
- ADE20K layout: ``images/{training,validation}/*.jpg`` and
  ``annotations/{training,validation}/*.png`` with ADE20K's label convention
  (0 = "other", ignored under ``reduce_zero_label=True``; class ``c`` of the
  150 is stored as ``c + 1``); shapes and background use the classes in
  :data:`ADE_SHAPE_CLASSES`.

- ImageNet-style classification folders (``make_cls_folder``):
  ``{train,val}/<class>/*.jpg``, what mmpretrain's ``CustomDataset`` reads
  (e.g. Mini-ImageNet, IP102); class ``c`` is a shape in a colour of its own.
- The ImageNet-1k layout (``make_imagenet``): ``train/<wnid>/*.JPEG``,
  ``val/*.JPEG`` and ``meta/{train,val}.txt``, what mmpretrain's
  ``ImageNet`` dataset and the ``*_in1k.py`` configs read.

Make them with ``python tools/misc/make_toy_data.py data/``.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

SHAPES = ('circle', 'square', 'triangle')
#: Mean colour (BGR) of each shape; instances vary around it, so colour is a
#: cue but not the whole story (shape and occlusion still matter).
SHAPE_COLOURS = {'circle': (60, 60, 210), 'square': (60, 200, 60),
                 'triangle': (210, 90, 40)}
#: COCO category each shape is annotated as (names from COCO's 80).
COCO_SHAPE_CLASSES = ('sports ball', 'tv', 'kite')
#: ADE20K classes (0-based index into its 150) of shapes and backgrounds.
# car, sky, grass for the shapes; wall and floor for the two backgrounds
ADE_SHAPE_CLASSES = {'circle': 20, 'square': 2, 'triangle': 9,
                     'top': 0, 'bottom': 3}


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random smooth colour field with stripes."""
    low = rng.uniform(0, 255, (4, 4, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:h, :w]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 20)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / period *
                     2 * np.pi)
    img += 25 * stripes[..., None] + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255)


def _polygon(rng: np.random.Generator, shape: str, h: int,
             w: int) -> np.ndarray:
    """Vertices (N, 2) of a random shape of the given kind inside h x w."""
    r = rng.uniform(0.12, 0.28) * min(h, w)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    if shape == 'circle':
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    else:
        n = 4 if shape == 'square' else 3
        t = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def _render(rng: np.random.Generator, h: int, w: int,
            max_objects: int) -> Tuple[np.ndarray, List[Dict]]:
    """An image and its objects: shape, polygon and visible mask."""
    img = _texture(rng, h, w)
    objects = []
    for _ in range(rng.integers(1, max_objects + 1)):
        shape = SHAPES[rng.integers(len(SHAPES))]
        poly = _polygon(rng, shape, h, w)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        colour = np.clip(np.array(SHAPE_COLOURS[shape]) +
                         rng.normal(0, 30, 3), 0, 255)
        img[mask.astype(bool)] = 0.7 * colour + 0.3 * img[mask.astype(bool)]
        for obj in objects:  # the new shape occludes the earlier ones
            obj['mask'] &= ~mask.astype(bool)
        objects.append(dict(shape=shape, poly=poly, mask=mask.astype(bool)))
    return img.astype(np.uint8), objects


def make_coco(root: str, num_train: int = 64, num_val: int = 16,
              size: Tuple[int, int] = (128, 160), seed: int = 0) -> None:
    """Write a COCO-layout instance segmentation set under ``root``."""
    from mmdet.datasets import CocoDataset
    from pycocotools import mask as mask_utils

    names = CocoDataset.METAINFO['classes']
    categories = [dict(id=i + 1, name=n, supercategory='toy')
                  for i, n in enumerate(names)]
    cat_id = {s: names.index(c) + 1
              for s, c in zip(SHAPES, COCO_SHAPE_CLASSES)}
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    rng = np.random.default_rng(seed)
    ann_id = 1
    for split, num in (('train', num_train), ('val', num_val)):
        img_dir = osp.join(root, f'{split}2017')
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for i in range(num):
            h, w = size
            img, objects = _render(rng, h, w, max_objects=4)
            file_name = f'{i:012d}.jpg'
            cv2.imwrite(osp.join(img_dir, file_name), img)
            images.append(dict(id=i + 1, file_name=file_name, height=h,
                               width=w))
            for obj in objects:
                area = int(obj['mask'].sum())
                if area < 30:
                    continue
                full = np.zeros((h, w), np.uint8)
                cv2.fillPoly(full, [np.round(obj['poly']).astype(np.int32)],
                             1)
                if area == int(full.sum()):  # unoccluded: polygon
                    segm = [obj['poly'].round(2).flatten().tolist()]
                else:  # occluded: RLE of the visible part
                    rle = mask_utils.encode(
                        np.asfortranarray(obj['mask'].astype(np.uint8)))
                    segm = dict(size=rle['size'],
                                counts=rle['counts'].decode())
                ys, xs = np.nonzero(obj['mask'])
                x0, y0 = float(xs.min()), float(ys.min())
                bbox = [x0, y0, float(xs.max()) + 1 - x0,
                        float(ys.max()) + 1 - y0]
                annotations.append(dict(
                    id=ann_id, image_id=i + 1,
                    category_id=cat_id[obj['shape']], segmentation=segm,
                    area=area, bbox=bbox, iscrowd=0))
                ann_id += 1
        with open(osp.join(root, 'annotations',
                           f'instances_{split}2017.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations,
                           categories=categories), f)


def make_ade(root: str, num_train: int = 64, num_val: int = 16,
             size: Tuple[int, int] = (128, 160), seed: int = 1) -> None:
    """Write an ADE20K-layout semantic segmentation set under ``root``."""
    rng = np.random.default_rng(seed)
    for split, prefix, num in (('training', 'ADE_train', num_train),
                               ('validation', 'ADE_val', num_val)):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(num):
            h, w = size
            top = _texture(rng, h, w)
            img, objects = _render(rng, h, w, max_objects=3)
            horizon = int(rng.integers(h // 3, 2 * h // 3))
            label = np.full((h, w), ADE_SHAPE_CLASSES['bottom'] + 1, np.uint8)
            label[:horizon] = ADE_SHAPE_CLASSES['top'] + 1
            # the two backgrounds differ in texture: the upper part is redrawn
            background = np.zeros((h, w), bool)
            background[:horizon] = True
            for obj in objects:
                background &= ~obj['mask']
            img[background] = top[background].astype(np.uint8)
            for obj in objects:
                label[obj['mask']] = ADE_SHAPE_CLASSES[obj['shape']] + 1
                # a thin "other" (0) outline, ignored under reduce_zero_label
                edge = cv2.morphologyEx(obj['mask'].astype(np.uint8),
                                        cv2.MORPH_GRADIENT,
                                        np.ones((3, 3), np.uint8))
                label[edge.astype(bool) & obj['mask']] = 0
            name = f'{prefix}_{i + 1:08d}'
            cv2.imwrite(osp.join(img_dir, f'{name}.jpg'), img)
            cv2.imwrite(osp.join(ann_dir, f'{name}.png'), label)


def _class_image(rng: np.random.Generator, c: int, colour: np.ndarray,
                 h: int, w: int) -> np.ndarray:
    """One image of class ``c``: a big ``SHAPES[c % 3]`` in a colour near
    ``colour`` on a textured background."""
    img = _texture(rng, h, w)
    poly = _polygon(rng, SHAPES[c % len(SHAPES)], h, w)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    img[mask.astype(bool)] = np.clip(colour + rng.normal(0, 15, 3), 0, 255)
    return img.astype(np.uint8)


def make_cls_folder(root: str, num_classes: int = 4,
                    num_train: int = 4, num_val: int = 2,
                    size: Tuple[int, int] = (64, 64), seed: int = 2) -> None:
    """Write an ImageNet-style classification folder under ``root``:
    ``{train,val}/class_{c:03d}/*.jpg``, ``num_train`` / ``num_val`` images
    per class; class ``c`` is one big shape (``SHAPES[c % 3]``) in a colour
    of its own on a textured background."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(30, 225, (num_classes, 3))
    h, w = size
    for split, num in (('train', num_train), ('val', num_val)):
        for c in range(num_classes):
            out = osp.join(root, split, f'class_{c:03d}')
            os.makedirs(out, exist_ok=True)
            for i in range(num):
                cv2.imwrite(osp.join(out, f'{i:06d}.jpg'),
                            _class_image(rng, c, colours[c], h, w))


def make_imagenet(root: str, num_classes: int = 4, num_train: int = 4,
                  num_val: int = 2, size: Tuple[int, int] = (64, 64),
                  seed: int = 3,
                  val_images: Optional[Sequence[Tuple[np.ndarray, int]]] = None
                  ) -> None:
    """Write the ImageNet-1k layout that mmpretrain's ``ImageNet`` dataset
    (``split='train'`` / ``'val'``) and the shipped in1k configs read:
    ``train/<wnid>/<wnid>_<i>.JPEG``, ``val/ILSVRC2012_val_<i>.JPEG`` and
    ``meta/{train,val}.txt`` (``<path> <label>`` lines). Labels index
    ImageNet-1k's 1000 classes; the first ``num_classes`` are used, each a
    shape in a colour of its own.

    Args:
        val_images (Sequence[tuple], optional): ``(BGR uint8 image, label)``
            pairs to use as the validation set instead of generated ones,
            written losslessly (PNG data, so that their pixels are exactly
            what a test compares). Defaults to None.
    """
    rng = np.random.default_rng(seed)
    colours = rng.uniform(30, 225, (num_classes, 3))
    h, w = size
    lines = []
    for c in range(num_classes):
        wnid = f'n{c:08d}'
        os.makedirs(osp.join(root, 'train', wnid), exist_ok=True)
        for i in range(num_train):
            name = f'{wnid}/{wnid}_{i}.JPEG'
            cv2.imwrite(osp.join(root, 'train', name),
                        _class_image(rng, c, colours[c], h, w),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            lines.append(f'{name} {c}')
    if val_images is None:
        val_images = [(_class_image(rng, c, colours[c], h, w), c)
                      for c in range(num_classes) for _ in range(num_val)]
    os.makedirs(osp.join(root, 'val'), exist_ok=True)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    val_lines = []
    for i, (img, label) in enumerate(val_images, 1):
        name = f'ILSVRC2012_val_{i:08d}.JPEG'
        ok, data = cv2.imencode('.png', img)
        assert ok
        with open(osp.join(root, 'val', name), 'wb') as f:
            f.write(data.tobytes())
        val_lines.append(f'{name} {label}')
    for split, rows in (('train', lines), ('val', val_lines)):
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(rows) + '\n')


def make_toy_data(out_dir: str, **kwargs) -> Dict[str, str]:
    """Write the COCO, ADE20K and ImageNet sets under ``out_dir``; return
    their roots."""
    roots = dict(coco=osp.join(out_dir, 'toy_coco'),
                 ade=osp.join(out_dir, 'toy_ade'),
                 imagenet=osp.join(out_dir, 'toy_imagenet'))
    make_coco(roots['coco'], **kwargs)
    make_ade(roots['ade'], **kwargs)
    make_imagenet(roots['imagenet'], seed=kwargs.get('seed', 0) + 3)
    return roots
