# Cascade Mask R-CNN 3x with HorNet-T (7x7), COCO: the official HorNet recipe
# (raoyongming/HorNet object_detection/configs/hornet/
# cascade_mask_rcnn_hornet_tiny_7x7_3x_coco_in1k.py) ported to mmdet 3.x.
# mmdet's ConvNeXt config below has the same 4conv1fc GIoU SyncBN heads and
# DETR-style multi-scale crop pipeline; what differs is overridden here:
# HorNet backbone, fp32 (the official runs used no AMP; pass --amp to
# tools/train.py for it), 500-iter warm-up, HorNet layer-wise LR decay.
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# HorNet-T 7x7, ImageNet-1k (official release)
checkpoint = 'https://cloud.tsinghua.edu.cn/f/bac9690c72944d19aca1/?dl=1'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HorNet',
        arch='t',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise',
                       num_layers=12))
auto_scale_lr = dict(enable=False, base_batch_size=16)
