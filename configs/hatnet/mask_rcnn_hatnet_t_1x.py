# Mask R-CNN 1x with HAT-Net-T, COCO: PVT's Mask R-CNN recipe (HAT-Net /
# TransCNN follow PVT's settings): single-scale 1333x800, 12 epochs, steps
# [8, 11], AdamW 1e-4, wd 1e-4, fp32 (--amp for mixed precision). No official
# HAT-Net detection code or numbers. 8 GPUs x 2 images = 16.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
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
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999),
        weight_decay=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=16)
