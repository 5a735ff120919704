# HorNet-S GF (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './retinanet_hornet_t_1x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/959603ca287d4c09ad49/?dl=1'
model = dict(
    backbone=dict(
        arch='s-gf',
        drop_path_rate=0.6,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768]))
