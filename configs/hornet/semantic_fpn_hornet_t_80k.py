# Semantic FPN 80k with HorNet-T (7x7), ADE20K 512x512. No official HorNet
# counterpart. mmseg's Semantic FPN model and ADE20K data with the recipe
# of PVT / mmseg's Twins Semantic FPN configs: AdamW 1e-4, wd 1e-4, poly
# (power 0.9) to 0 over 80k iterations, whole-image test; fp32.
# 8 GPUs x 2 images = 16.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

crop_size = (512, 512)
# HorNet-T 7x7, ImageNet-1k (official release)
checkpoint = 'https://cloud.tsinghua.edu.cn/f/bac9690c72944d19aca1/?dl=1'
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HorNet',
        arch='t',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]),
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
