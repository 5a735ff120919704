# TransCNN-Large (HAT-Net v1) ImageNet-1k classification at 256x256, the input
# size of the v1 release (yun-liu/TransCNN README at ecd76b5). The recipe is
# PVT's, as for HAT-Net (hatnet-large_8xb128_in1k.py): AdamW lr 1e-3 for 8
# GPUs x 128, wd 0.05 (none on 1-D parameters and biases), 300 epochs,
# 5-epoch warm-up from 1e-6, cosine to 1e-5, no EMA, RandAugment m9, random
# erasing 0.25, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, classifier
# dropout 0.2, drop path 0.3, gradient clipping 1.0 (PVT's values for
# this size); 256 crops, test resize 292 (256 / 0.875) + center crop 256.
# Official checkpoints (v1.0 release) load as released:
# python tools/test.py CONFIG TransCNN-Large.pth
_base_ = '../hatnet/hatnet-large_8xb128_in1k.py'

model = dict(
    backbone=dict(type='mmhybrid.TransCNN'), head=dict(in_channels=768))
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=256, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean],
                      interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=292, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
