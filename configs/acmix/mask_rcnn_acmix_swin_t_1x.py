# Mask R-CNN 1x with Swin-ACmix-T, COCO. There is no official ACmix
# detection recipe: this is mmdet's Swin-T Mask R-CNN 1x
# (swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py: AdamW 1e-4, wd 0.05, no weight
# decay on norms and relative position tables, drop path 0.2, 12 epochs,
# steps [8, 11], 1000-iter warm-up, single-scale 1333x800) with the backbone
# swapped, and no weight decay on ACmix's mixing scalars rate1/rate2 either
# (1-D parameters, which the official ImageNet training does not decay).
# fp32 (pass --amp to tools/train.py for mixed precision).
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
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
