# UperNet 160k with SG-Former-S, ADE20K 512x512. The paper's recipe
# (Sec. 3.3): AdamW 6e-5, wd 0.01, 160k iterations at batch 16, 1500-iter
# linear warm-up then linear decay, 512x512 crops with flip, scale and
# photometric augmentation, i.e. mmseg's Swin UperNet config below (UPerHead
# 512 + auxiliary FCNHead on stage 3, slide test); no weight decay on norms
# and pos_embed. fp32 (--amp for mixed precision). 8 GPUs x 2 images = 16.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
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
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SGFormer',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.),  # the GroupNorms of the convs
        }))
