# Mask R-CNN 3x with ViT-LSLA-T, COCO: mmdet's Swin-T Mask R-CNN 3x
# (swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py: DETR-style multi-scale
# resize / crop, AdamW 1e-4, wd 0.05, no weight decay on norms and relative
# position tables, drop path 0.2, 36 epochs, steps [27, 33], 1000-iter
# warm-up; fp32, pass --amp for mixed precision) with the backbone swapped
# and no weight decay on the LSLA tables and stem BNs (as
# ./mask_rcnn_lsla_t_1x.py, which also says how to load your own weights).
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
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

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'dynamic_scale_table': dict(decay_mult=0.),
            'outer_bias_table': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.)
        }))
auto_scale_lr = dict(enable=False, base_batch_size=16)
