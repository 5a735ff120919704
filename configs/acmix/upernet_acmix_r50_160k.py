# UperNet 160k with ResNet-ACmix-50, ADE20K 512x512. There is no official
# ACmix segmentation recipe: this is mmseg's ResNet-50 UperNet
# (upernet_r50_4xb4-160k_ade20k-512x512.py: SyncBN, UPerHead 512 + auxiliary
# FCNHead on stage 2, SGD 0.01, momentum 0.9, wd 5e-4, poly (power 0.9) to
# 1e-4 over 160k iterations, whole-image test) with the backbone swapped.
# 4 GPUs x 4 images = 16, as mmseg's ResNet recipes.
# FROM SCRATCH: no ImageNet ResNet-ACmix weights have been released, so
# init_cfg=None (official Kaiming initialisation); the backbone trains with
# SyncBN and nothing frozen, as mmseg's ResNets do. See the README.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ResNetACmix',
        arch='50',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: no released ImageNet weights
    decode_head=dict(in_channels=[256, 512, 1024, 2048], num_classes=150),
    auxiliary_head=dict(in_channels=1024, num_classes=150))

train_dataloader = dict(batch_size=4)  # 4 GPUs x 4 images
