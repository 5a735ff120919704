# HAT-Net-Large ImageNet-1k classification. HAT-Net "exactly follows the code
# and the training settings of PVT" (yun-liu/HAT-Net README), i.e. PVT v1's
# classification/main.py (DeiT-style): AdamW lr 5e-4 x 1024 / 512 = 1e-3 for
# 8 GPUs x 128, wd 0.05 with none on 1-D parameters and biases, 300 epochs,
# 5-epoch linear warm-up from 1e-6, cosine to 1e-5, no EMA (commented out in
# PVT), RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, Mixup 0.8 /
# CutMix 1.0, label smoothing 0.1; 224 crops, test resize 256 + center crop
# 224; the official classifier's dropout 0.2. Drop path 0.3 and gradient
# clipping 1.0: PVT's values for the model of this size (PVT-T/S 0.1 / none,
# M/L 0.3 / 1.0); HAT-Net's own per-variant values are not published.
# Official checkpoints (v2.0 release) load as released:
# python tools/test.py CONFIG HAT-Net_Large.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='mmhybrid.HATNet',
        arch='l',
        drop_path_rate=0.3,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='mmhybrid.DropoutLinearClsHead',
        num_classes=1000,
        in_channels=640,
        dropout_rate=0.2,
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
    paramwise_cfg=dict(_delete_=True, bias_decay_mult=0., flat_decay_mult=0.),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5,
         end=300, convert_to_iter_based=True)
]
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]
