# Cascade Mask R-CNN 3x with HAT-Net-T, COCO: mmdet's ConvNeXt Cascade Mask
# R-CNN 3x model and data (4conv1fc GIoU SyncBN heads, DETR-style
# multi-scale crop, 36 epochs, steps [27, 33]) in fp32 (--amp for mixed
# precision), with AdamW 1e-4, wd 0.05, no decay on norms, as the Swin 3x
# recipe. No official HAT-Net counterpart. 8 GPUs x 2 images = 16.
_base_ = 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# HAT-Net-Tiny, official release (v2.0, ImageNet-1k 224x224)
checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Tiny.pth'  # noqa
model = dict(
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
    neck=dict(in_channels=[48, 96, 240, 384]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
auto_scale_lr = dict(enable=False, base_batch_size=16)
