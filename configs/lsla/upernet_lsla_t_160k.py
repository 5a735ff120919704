# UperNet 160k with ViT-LSLA-T, ADE20K 512x512. The paper reports no
# segmentation; this is mmseg's Swin-T UperNet
# (swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py:
# UPerHead 512 + auxiliary FCNHead on stage 2, SyncBN heads, AdamW 6e-5,
# wd 0.01, no weight decay on norms and relative position tables, drop path
# 0.3, 1500-iter linear warm-up then poly (power 1) to 0, whole-image test)
# with the backbone swapped, and no weight decay on the LSLA tables and stem
# BNs either. No ViT-LSLA weights exist (see ./mask_rcnn_lsla_t_1x.py).
# fp32. 8 GPUs x 2 images = 16.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ViTLSLA',
        arch='t',
        window_size=7,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'dynamic_scale_table': dict(decay_mult=0.),
            'outer_bias_table': dict(decay_mult=0.),
            '.bn.': dict(decay_mult=0.)
        }))
