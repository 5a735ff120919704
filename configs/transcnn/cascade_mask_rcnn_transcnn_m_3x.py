# TransCNN-Medium, v1.0, ImageNet-1k 256x256; the rest as in _base_.
_base_ = './cascade_mask_rcnn_transcnn_t_3x.py'

checkpoint = 'https://github.com/yun-liu/TransCNN/releases/download/v1.0/TransCNN-Medium.pth'  # noqa
model = dict(
    backbone=dict(
        arch='m',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 320, 640]))
