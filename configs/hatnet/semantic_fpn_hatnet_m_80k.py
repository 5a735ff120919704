# HAT-Net-Medium, v2.0, ImageNet-1k 224x224; the rest as in _base_.
_base_ = './semantic_fpn_hatnet_t_80k.py'

checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Medium.pth'  # noqa
model = dict(
    backbone=dict(
        arch='m',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 320, 512]))
