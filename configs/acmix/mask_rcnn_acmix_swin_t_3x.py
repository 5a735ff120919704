# Mask R-CNN 3x with Swin-ACmix-T, COCO: mmdet's Swin-T Mask R-CNN 3x
# (swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py: DETR-style multi-scale
# resize / crop, AdamW 1e-4, wd 0.05, no weight decay on norms and relative
# position tables, drop path 0.2, 36 epochs, steps [27, 33], 1000-iter
# warm-up; fp32, pass --amp for mmdet's amp variant) with the backbone
# swapped, and no weight decay on rate1/rate2 (as
# ./mask_rcnn_acmix_swin_t_1x.py). 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# Swin-ACmix-T, ImageNet-1k (official release, LeapLabTHU/ACmix)
checkpoint = 'https://cloud.tsinghua.edu.cn/f/210c89a6f9eb4bd0beb6/?dl=1'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SwinACmix',
        arch='t',
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384, 768]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'rate1': dict(decay_mult=0.),
            'rate2': dict(decay_mult=0.)
        }))
auto_scale_lr = dict(enable=False, base_batch_size=16)
