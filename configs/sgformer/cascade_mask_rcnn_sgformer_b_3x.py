# Cascade Mask R-CNN 3x with SG-Former-B: the recipe of
# ./cascade_mask_rcnn_sgformer_s_3x.py (see there and ./README.md) with the
# SG-Former-B backbone.
_base_ = './cascade_mask_rcnn_sgformer_s_3x.py'

# SG-Former-B, ImageNet-1k (official release, see ./README.md)
checkpoint = 'checkpoints/sgformer_b.pth'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384, 768]))
