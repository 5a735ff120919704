# Mask R-CNN 1x with ViT-LSLA-T, COCO. The paper reports no detection; this
# is mmdet's Swin-T Mask R-CNN 1x (swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py:
# AdamW 1e-4, wd 0.05, no weight decay on norms and relative position
# tables, drop path 0.2, 12 epochs, steps [8, 11], 1000-iter warm-up,
# single-scale 1333x800) with the backbone swapped, and no weight decay on
# LSLA's dynamic-scale and outer-bias tables and the stem BNs either.
# No ViT-LSLA weights exist: the backbone starts from its initialisation
# unless you pretrain one (./README.md) and set
# init_cfg=dict(type='Pretrained', checkpoint='<your classifier>.pth').
# fp32 (pass --amp to tools/train.py for mixed precision).
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
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
