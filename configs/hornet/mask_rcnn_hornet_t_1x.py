# Mask R-CNN 1x with HorNet-T (7x7), COCO. The recipe is the official HorNet
# one for Mask R-CNN 1x (raoyongming/HorNet object_detection/configs/horfpn/
# fpn_mask_rcnn_hornet_small_7x7_1x_coco_in1k.py, the FPN baseline of the
# HorFPN study, there for HorNet-S only), which is mmdet's ConvNeXt Mask R-CNN
# recipe at 12 epochs: DETR-style multi-scale crop, AdamW 1e-4, wd 0.05,
# layer-wise LR decay 0.95 over 6 layers, steps [8, 11], 500-iter warm-up,
# fp32 (pass --amp to tools/train.py for mixed precision).
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::convnext/mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py'  # noqa
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

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise',
                       num_layers=6))
auto_scale_lr = dict(enable=False, base_batch_size=16)
