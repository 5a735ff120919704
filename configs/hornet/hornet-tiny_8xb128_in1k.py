# HorNet-T (7x7) ImageNet-1k classification, the official recipe
# (raoyongming/HorNet TRAINING.md, main.py): AdamW lr 4e-3 for 4096 images
# per step (here 8 GPUs x 128 = 1024, lr scaled linearly to 1e-3; pass
# --auto-scale-lr on other totals), wd 0.05 with none on 1-D parameters and
# biases, 300 epochs, 20-epoch linear warm-up, cosine to 1e-6, gradient
# clipping 100, drop path 0.2, layer scale 1e-6, EMA 0.9999 (evaluated),
# RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, Mixup 0.8 / CutMix
# 1.0, label smoothing 0.1; 224 crops, test resize 256 + center crop 224.
# The backbone is mmhybrid.HorNetCls: GAP, then the final LayerNorm, as the
# official classifier; official checkpoints (norm.*, head.*) load as
# released: python tools/test.py CONFIG hornet_tiny_7x7.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmhybrid.HorNetCls',
        arch='t',
        drop_path_rate=0.2,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=512,
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
    optimizer=dict(lr=4e-3 * 1024 / 4096),
    paramwise_cfg=dict(_delete_=True, bias_decay_mult=0., flat_decay_mult=0.),
    clip_grad=dict(max_norm=100.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=20,
         end=300, convert_to_iter_based=True)
]
custom_hooks = [
    dict(type='mmhybrid.CheckpointLoadHook'),
    dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')
]
auto_scale_lr = dict(base_batch_size=1024)
