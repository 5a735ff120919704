# HorNet-L 7x7 (ImageNet-22k pre-trained); the rest as in the _base_ config,
# except, as in the official L configs, 640x640 crops (ADE20K resized to
# 2560x640, slide test with stride 426) and stage-wise decay 0.8 over 12.
_base_ = './upernet_hornet_t_160k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/c2fc23caae084a3aa73d/?dl=1'
crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='l',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[192, 384, 768, 1536]),
    auxiliary_head=dict(in_channels=768),
    test_cfg=dict(crop_size=crop_size, stride=(426, 426)))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8, num_layers=12))

# mmseg's _base_/datasets/ade20k_640x640.py pipelines
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2560, 640), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
