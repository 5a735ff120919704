# TransCNN-Tiny, v1.0, ImageNet-1k 256x256; the rest as in _base_.
_base_ = '../hatnet/mask_rcnn_hatnet_t_1x.py'

checkpoint = 'https://github.com/yun-liu/TransCNN/releases/download/v1.0/TransCNN-Tiny.pth'  # noqa
model = dict(
    backbone=dict(
        type='mmhybrid.TransCNN',
        arch='t',
        drop_path_rate=0.1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,  # BN statistics frozen (2 images per GPU)
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))
