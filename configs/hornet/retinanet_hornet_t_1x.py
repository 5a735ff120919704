# RetinaNet 1x with HorNet-T (7x7), COCO. No official HorNet counterpart.
# mmdet's RetinaNet 1x data and schedule (single-scale 1333x800, 12 epochs,
# steps [8, 11], 500-iter warm-up) and, as mmdet's Swin RetinaNet, backbone
# outputs C3-C5 (out_indices (1, 2, 3)) into an FPN with extra convs on the
# input; the optimizer is the one of ./mask_rcnn_hornet_t_1x.py (AdamW 1e-4,
# wd 0.05, layer-wise LR decay 0.95 over 6 layers) instead of SGD.
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
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
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512], start_level=0, num_outs=5))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        _delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.95, decay_type='layer_wise',
                       num_layers=6))
auto_scale_lr = dict(enable=False, base_batch_size=16)
