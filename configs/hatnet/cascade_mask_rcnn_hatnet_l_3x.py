# HAT-Net-Large, v2.0, ImageNet-1k 224x224; the rest as in _base_.
_base_ = './cascade_mask_rcnn_hatnet_t_3x.py'

checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Large.pth'  # noqa
model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 320, 640]))
