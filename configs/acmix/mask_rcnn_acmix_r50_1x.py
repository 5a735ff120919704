# Mask R-CNN 1x with ResNet-ACmix-50, COCO. There is no official ACmix
# detection recipe: this is mmdet's ResNet-50 Mask R-CNN 1x
# (mask-rcnn_r50_fpn_1x_coco.py: SGD 0.02, momentum 0.9, wd 1e-4, 12 epochs,
# steps [8, 11], 500-iter warm-up, single-scale 1333x800) with the backbone
# swapped. 8 GPUs x 2 images = 16.
#
# FROM SCRATCH: no ImageNet ResNet-ACmix weights have been released
# (LeapLabTHU/ACmix lists them as "in process"), so init_cfg=None and the
# backbone starts from the official Kaiming initialisation. mmdet's r50
# settings frozen_stages=1 / norm_eval=True only protect ImageNet weights and
# statistics; here they would freeze a random stem and keep every BN at its
# initial statistics (mean 0, var 1), so the backbone trains everything and
# uses SyncBN (batch statistics over all 16 images), as from-scratch
# detectors do (He et al., "Rethinking ImageNet Pre-training"). 12 epochs are
# far too short from scratch (mmdet's scratch/ recipe trains 73 epochs); see
# the README. With your own ImageNet checkpoint, use mmdet's settings:
#   init_cfg=dict(type='Pretrained', checkpoint=...), frozen_stages=1,
#   norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
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
