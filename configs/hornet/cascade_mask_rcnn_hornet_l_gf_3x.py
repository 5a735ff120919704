# HorNet-L GF (ImageNet-22k pre-trained); the rest as in the _base_ config.
# Global filters sized (24, 13) / (12, 7) as in the official L-GF detector;
# the 224 checkpoint's (14, 8) / (7, 4) filters are resized at load.
_base_ = './cascade_mask_rcnn_hornet_t_3x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8600206ebdfa485f98d0/?dl=1'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, base='l-gf',
            gf_sizes=[None, None, (24, 13), (12, 7)]),
        drop_path_rate=0.7,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 384, 768, 1536]))
optim_wrapper = dict(optimizer=dict(lr=1e-4))
