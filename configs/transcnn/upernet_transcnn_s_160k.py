# UperNet 160k with TransCNN-S, ADE20K 512x512: mmseg's Swin UperNet recipe
# (swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py:
# UPerHead 512 + auxiliary FCNHead on stage 2, AdamW 6e-5, wd 0.01, no decay
# on norms, 1500-iter warm-up, poly 1.0, slide test), fp32. No official
# TransCNN counterpart. 8 GPUs x 2 images = 16.
_base_ = 'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

# TransCNN-Small, official release (v1.0, ImageNet-1k 256x256)
checkpoint = 'https://github.com/yun-liu/TransCNN/releases/download/v1.0/TransCNN-Small.pth'  # noqa
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.TransCNN',
        arch='s',
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        # new output norms (not in the ImageNet weights): the stage
        # outputs are un-normalised residual streams
        out_norm_cfg=dict(type='GN', num_groups=1, eps=1e-6),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images
