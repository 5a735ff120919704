# Mask R-CNN 3x with ResNet-ACmix-50, COCO: mmdet's ResNet-50 Mask R-CNN 3x
# (mask-rcnn_r50_fpn_ms-poly-3x_coco.py: multi-scale training, short side
# 640-800, the dataset repeated 3 times for 12 epochs = 36 epochs, steps at
# epochs [27, 33], SGD 0.02) with the backbone swapped. 8 GPUs x 2 images.
# FROM SCRATCH (no released ImageNet weights): the backbone trains
# everything with SyncBN, see ./mask_rcnn_acmix_r50_1x.py.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_ms-poly-3x_coco.py'
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
