# RetinaNet 1x with ViT-LSLA-T, COCO: mmdet's Swin-T RetinaNet 1x
# (swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py: outputs C3-C5, out_indices
# (1, 2, 3), into an FPN with extra convs on the input, drop path 0.2,
# 12 epochs, steps [8, 11], 500-iter warm-up, single-scale 1333x800) with the
# backbone swapped and, instead of that config's SGD 0.01 (mmdet publishes
# no result for it), the optimizer of mmdet's Swin Mask R-CNN: AdamW 1e-4,
# wd 0.05, no weight decay on norms, relative position tables, the LSLA
# tables and stem BNs. No ViT-LSLA weights exist (see
# ./mask_rcnn_lsla_t_1x.py). fp32. 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py'
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
        out_indices=(1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels=[192, 384, 768], start_level=0, num_outs=5))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'dynamic_scale_table': dict(decay_mult=0.),
            'outer_bias_table': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.)
        }))
auto_scale_lr = dict(enable=False, base_batch_size=16)
