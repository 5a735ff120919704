# HorNet-S 7x7 (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './mask_rcnn_hornet_t_3x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/?dl=1'
model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[96, 192, 384, 768]))
