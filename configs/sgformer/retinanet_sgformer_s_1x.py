# RetinaNet 1x with SG-Former-S, COCO. The paper has no RetinaNet recipe:
# this is mmdet's Swin-T RetinaNet 1x (single-scale 1333x800, 12 epochs,
# steps [8, 11], backbone outputs C3-C5 into an FPN with extra convs on the
# input), with the AdamW 1e-4 / wd 0.05 of Swin's detection recipes (no
# decay on norms and pos_embed) instead of mmdet's SGD. fp32.
# 8 GPUs x 2 images = 16.
_base_ = 'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# SG-Former-S, ImageNet-1k (official release: the Google Drive folder of
# OliverRensu/SG-Former's README; no per-file URL exists). Download it to
# this path; its EMA weights are loaded when present, as the official
# evaluation does.
checkpoint = 'checkpoints/sgformer_s.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.),  # the GroupNorms of the convs
        }),
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05))
auto_scale_lr = dict(enable=False, base_batch_size=16)
