# Semantic FPN 80k with ResNet-ACmix-50, ADE20K 512x512: mmseg's ResNet-50
# Semantic FPN (sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py: SyncBN, FPN +
# FPNHead, SGD 0.01, momentum 0.9, wd 5e-4, poly (power 0.9) to 1e-4,
# whole-image test) on mmseg's 80k schedule (_base_/schedules/
# schedule_80k.py), with the backbone swapped. 4 GPUs x 4 images = 16.
# FROM SCRATCH (no released ImageNet weights): init_cfg=None, SyncBN,
# nothing frozen; see ./upernet_acmix_r50_160k.py and the README.
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
        type='mmhybrid.ResNetACmix',
        arch='50',
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: no released ImageNet weights
    neck=dict(in_channels=[256, 512, 1024, 2048]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)  # 4 GPUs x 4 images
