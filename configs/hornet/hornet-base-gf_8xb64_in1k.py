# HorNet-B (GF) ImageNet-1k: hornet-base_8xb64_in1k.py with global filters,
# gradient clipping 1 and RandAugment rand-m15-mstd0.5-inc1 (TRAINING.md).
_base_ = './hornet-base_8xb64_in1k.py'

model = dict(backbone=dict(arch='b-gf'))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2,
         total_level=10, magnitude_level=15, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean],
                      interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand',
         min_area_ratio=0.02, max_area_ratio=1 / 3, fill_color=bgr_mean,
         fill_std=bgr_std),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
