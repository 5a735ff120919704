# SG-Former-B ImageNet-1k classification, the official recipe
# (OliverRensu/SG-Former README and main.py, timm's training script):
# AdamW lr 1e-3 for 1024 images per step (8 GPUs x 128), wd 0.05 with none
# on 1-D parameters and biases, 300 epochs of cosine to 1e-5 after a 20-epoch
# linear warm-up from 1e-6, then timm's 10 cool-down epochs at 1e-5 (310 in
# all), drop path 0.4, EMA 0.99992 (evaluated; the released files' EMA
# weights are the ones loaded), RandAugment rand-m9-mstd0.5-inc1, random
# erasing 0.25, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, no gradient
# clipping; 224 crops, test resize 256 + center crop 224. The official runs
# used --amp (pass --amp to tools/train.py). Official checkpoints load as
# released: python tools/test.py CONFIG sgformer_b.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmhybrid.SGFormer',
        arch='b',
        drop_path_rate=0.4,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(batch_size=128)  # 8 GPUs x 128
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, bias_decay_mult=0., flat_decay_mult=0.))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20,
         end=300, convert_to_iter_based=True)
]  # then 1e-5 until the end: timm's cool-down
train_cfg = dict(max_epochs=310)
custom_hooks = [
    dict(type='mmhybrid.CheckpointLoadHook'),
    dict(type='EMAHook', momentum=8e-5, priority='ABOVE_NORMAL')
]
