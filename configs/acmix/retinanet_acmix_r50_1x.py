# RetinaNet 1x with ResNet-ACmix-50, COCO: mmdet's ResNet-50 RetinaNet 1x
# (retinanet_r50_fpn_1x_coco.py: C3-C5 into an FPN with extra convs on the
# input, SGD 0.01, wd 1e-4, 12 epochs, steps [8, 11], 500-iter warm-up,
# single-scale 1333x800) with the backbone swapped. 8 GPUs x 2 images = 16.
# FROM SCRATCH (no released ImageNet weights): the backbone trains
# everything with SyncBN, see ./mask_rcnn_acmix_r50_1x.py.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ResNetACmix',
        arch='50',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),  # from scratch: no released ImageNet weights
    neck=dict(in_channels=[256, 512, 1024, 2048]))

train_dataloader = dict(batch_size=2)  # 8 GPUs x 2 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
