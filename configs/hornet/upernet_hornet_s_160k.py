# HorNet-S 7x7 (ImageNet-1k pre-trained); the rest as in the _base_ config.
_base_ = './upernet_hornet_t_160k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8ef64277da0e469ea857/?dl=1'
model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12))
