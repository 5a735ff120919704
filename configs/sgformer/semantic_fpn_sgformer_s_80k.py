# Semantic FPN 80k with SG-Former-S, ADE20K 512x512. The paper's recipe
# (Sec. 3.3, that of PVT): AdamW 1e-4, wd 1e-4, 80k iterations; the
# schedule (poly, power 0.9, to 0) and data are mmseg's Semantic FPN / PVT
# ones; whole-image test, fp32. 8 GPUs x 2 images = 16.
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
# SG-Former-S, ImageNet-1k (official release: the Google Drive folder of
# OliverRensu/SG-Former's README; no per-file URL exists). Download it to
# this path; its EMA weights are loaded when present, as the official
# evaluation does.
checkpoint = 'checkpoints/sgformer_s.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.),  # the GroupNorms of the convs
        }))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000,
         by_epoch=False)
]
