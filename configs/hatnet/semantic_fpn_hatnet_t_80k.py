# Semantic FPN 80k with HAT-Net-T, ADE20K 512x512: PVT's Semantic FPN recipe
# (AdamW 2e-4, wd 1e-4, poly 0.9 for 40k iterations at 8 GPUs x 4 images),
# here at mmseg's batch of 16 with the same number of epochs: 80k iterations
# and, scaled linearly, lr 1e-4 (PVT derives its 2e-4 / 40k from these).
# Whole-image test, fp32. No official HAT-Net segmentation code or numbers.
# 8 GPUs x 2 images = 16.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
crop_size = (512, 512)
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# HAT-Net-Tiny, official release (v2.0, ImageNet-1k 224x224)
checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Tiny.pth'  # noqa
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HATNet',
        arch='t',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        # new output norms (not in the ImageNet weights): the stage
        # outputs are un-normalised residual streams
        out_norm_cfg=dict(type='GN', num_groups=1, eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[48, 96, 240, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000,
         by_epoch=False)
]
