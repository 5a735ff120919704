# HorNet-B 7x7 (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './semantic_fpn_hornet_t_80k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/13a748487711492e9704/?dl=1'
model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.4,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
