# HorNet-B GF (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './cascade_mask_rcnn_hornet_t_3x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/c212d1d8a3914b47a5c1/?dl=1'
model = dict(
    backbone=dict(
        arch='b-gf',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
optim_wrapper = dict(paramwise_cfg=dict(decay_rate=0.8))
