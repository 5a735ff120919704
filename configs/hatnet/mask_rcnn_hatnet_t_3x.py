# Mask R-CNN 3x with HAT-Net-T, COCO: mmdet's Swin Mask R-CNN 3x recipe
# (mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py: DETR-style multi-scale
# crop, 36 epochs, steps [27, 33], AdamW 1e-4, wd 0.05, no decay on norms),
# fp32. No official HAT-Net counterpart. 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
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
auto_scale_lr = dict(enable=False, base_batch_size=16)
