# UperNet 160k with HorNet-T (7x7), ADE20K 512x512: the official HorNet recipe
# (raoyongming/HorNet semantic_segmentation/configs/hornet/
# upernet_hornet_tiny_7x7_512_160k_ade20k.py) ported to mmseg 1.x. mmseg's
# ConvNeXt UperNet config below has the same heads (UPerHead 512 + auxiliary
# FCNHead on stage 2), data, slide test, AdamW 1e-4 / wd 0.05 and
# 1500-iter warm-up + poly schedule; here: HorNet backbone, fp32 (the official
# runs used no AMP; pass --amp to tools/train.py for it), HorNet stage-wise LR
# decay. 8 GPUs x 2 images = 16.
_base_ = 'mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# HorNet-T 7x7, ImageNet-1k (official release)
checkpoint = 'https://cloud.tsinghua.edu.cn/f/bac9690c72944d19aca1/?dl=1'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HorNet',
        arch='t',
        drop_path_rate=0.4,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='mmhybrid.LayerDecayOptimWrapperConstructor',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(decay_rate=0.9, decay_type='stage_wise', num_layers=6))
