# Cascade Mask R-CNN 3x with SG-Former-S, COCO. The paper has no Cascade
# recipe: this is Swin's (official Swin detection repo: 4conv1fc GIoU heads
# with SyncBN, DETR-style multi-scale crop 480-800, AdamW 1e-4, wd 0.05,
# 36 epochs, steps [27, 33]), which mmdet ships as its ConvNeXt Cascade
# config below; here the ConvNeXt layer decay and AMP are replaced by
# Swin's plain AdamW (no decay on norms and pos_embed) in fp32.
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# SG-Former-S, ImageNet-1k (official release: the Google Drive folder of
# OliverRensu/SG-Former's README; no per-file URL exists). Download it to
# this path; its EMA weights are loaded when present, as the official
# evaluation does.
checkpoint = 'checkpoints/sgformer_s.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.),  # the GroupNorms of the convs
        }),
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
auto_scale_lr = dict(enable=False, base_batch_size=16)
