# UperNet 160k with SG-Former-B: the recipe of ./upernet_sgformer_s_160k.py
# (see there and ./README.md) with the SG-Former-B backbone.
_base_ = './upernet_sgformer_s_160k.py'

# SG-Former-B, ImageNet-1k (official release, see ./README.md)
checkpoint = 'checkpoints/sgformer_b.pth'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.4,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
