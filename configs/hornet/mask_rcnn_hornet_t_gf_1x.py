# HorNet-T GF (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './mask_rcnn_hornet_t_1x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/460e759c82324ea6bfa3/?dl=1'
model = dict(
    backbone=dict(
        arch='t-gf',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[64, 128, 256, 512]))
