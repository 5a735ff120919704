# Semantic FPN 80k with ViT-LSLA-T, ADE20K 512x512. mmseg has no Swin
# Semantic FPN; this is mmseg's Semantic FPN model and ADE20K data with the
# recipe of PVT / mmseg's Twins Semantic FPN configs (AdamW 1e-4, wd 1e-4,
# poly (power 0.9) to 0 over 80k iterations, whole-image test), as
# ../acmix/semantic_fpn_acmix_swin_t_80k.py, plus the Swin rule of no weight
# decay on norms and relative position tables (and on the LSLA tables and
# stem BNs) and mmseg's Swin-T drop path 0.3. No ViT-LSLA weights exist (see
# ./mask_rcnn_lsla_t_1x.py). fp32. 8 GPUs x 2 images = 16.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ViTLSLA',
        arch='t',
        window_size=7,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels=[96, 192, 384, 768]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=1e-4),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            'dynamic_scale_table': dict(decay_mult=0.),
            'outer_bias_table': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000,
         by_epoch=False)
]
