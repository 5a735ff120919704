# HorNet-L 7x7 (ImageNet-22k pre-trained); the rest as in the _base_ config.
_base_ = './cascade_mask_rcnn_hornet_t_3x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/c2fc23caae084a3aa73d/?dl=1'
model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
