# A tiny Semantic FPN on the toy ADE20K-layout set for tool tests (resume,
# distributed test). Deterministic: no random transforms, no dropout.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmhybrid', 'tests.example_backbone', 'tests.kill_hook'],
    allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (64, 80)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(_delete_=True, type='mmhybrid.ExampleBackbone', arch='t'),
    neck=dict(in_channels=[8, 16, 24, 32], out_channels=16),
    decode_head=dict(in_channels=[16, 16, 16, 16], channels=16,
                     num_classes=150, dropout_ratio=0., norm_cfg=norm_cfg))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='Resize', scale=(80, 64), keep_ratio=False),
    dict(type='PackSegInputs'),
]
test_pipeline = [  # labels stay at the original size; predictions follow
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(80, 64), keep_ratio=False),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(pipeline=pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4, val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=4),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)
# at_iter=-1 never fires; tests set custom_hooks.0.at_iter to die mid-epoch.
custom_hooks = [dict(type='KillAtIterHook', at_iter=-1)]
