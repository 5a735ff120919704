# Cascade Mask R-CNN 3x with ViT-LSLA-T, COCO. mmdet 3.x has no Swin Cascade
# config; this is the official Swin recipe
# (SwinTransformer/Swin-Transformer-Object-Detection cascade_mask_rcnn_swin_
# tiny_patch4_window7_mstrain_480-800_giou_4conv1f_adamw_3x_coco.py: 4conv1fc
# SyncBN box heads with GIoU loss, DETR-style multi-scale resize / crop,
# AdamW 1e-4, wd 0.05, no weight decay on norms and relative position
# tables, drop path 0.2, 36 epochs, steps [27, 33], 500-iter warm-up).
# mmdet's ConvNeXt config below has the same heads and pipeline; here:
# ViT-LSLA backbone, the Swin optimizer (no layer decay; no weight decay on
# the LSLA tables and stem BNs either), the 500-iter warm-up, fp32 (pass
# --amp for mixed precision). No ViT-LSLA weights exist (see
# ./mask_rcnn_lsla_t_1x.py). 8 GPUs x 2 images = 16.
_base_ = 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ViTLSLA',
        arch='t',
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels=[96, 192, 384, 768]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'dynamic_scale_table': dict(decay_mult=0.),
            'outer_bias_table': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.)
        }))
auto_scale_lr = dict(enable=False, base_batch_size=16)
