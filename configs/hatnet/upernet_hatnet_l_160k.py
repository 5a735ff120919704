# HAT-Net-Large, v2.0, ImageNet-1k 224x224; the rest as in _base_.
_base_ = './upernet_hatnet_t_160k.py'

checkpoint = 'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Large.pth'  # noqa
model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[64, 128, 320, 640]),
    auxiliary_head=dict(in_channels=320))
