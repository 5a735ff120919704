# Cascade Mask R-CNN 3x with SG-Former-M: the recipe of
# ./cascade_mask_rcnn_sgformer_s_3x.py (see there and ./README.md) with the
# SG-Former-M backbone.
_base_ = './cascade_mask_rcnn_sgformer_s_3x.py'

# SG-Former-M, ImageNet-1k (official release, see ./README.md)
checkpoint = 'checkpoints/sgformer_m.pth'
model = dict(
    backbone=dict(
        arch='m',
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)))
