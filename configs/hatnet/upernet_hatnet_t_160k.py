# UperNet 160k with HAT-Net-T, ADE20K 512x512: mmseg's Swin UperNet recipe
# (swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py:
# UPerHead 512 + auxiliary FCNHead on stage 2, AdamW 6e-5, wd 0.01, no decay
# on norms, 1500-iter warm-up, poly 1.0, slide test), fp32. No official
# HAT-Net counterpart. 8 GPUs x 2 images = 16.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

# HAT-Net-Tiny, official release (v2.0, ImageNet-1k 224x224)
checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Tiny.pth'  # noqa
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.HATNet',
        arch='t',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        # new output norms (not in the ImageNet weights): the stage
        # outputs are un-normalised residual streams
        out_norm_cfg=dict(type='GN', num_groups=1, eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[48, 96, 240, 384], num_classes=150),
    auxiliary_head=dict(in_channels=240, num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images
