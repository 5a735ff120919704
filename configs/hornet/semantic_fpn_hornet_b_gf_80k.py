# HorNet-B GF (ImageNet-1k pre-trained); the rest as in the _base_ config.
# Global filters sized (24, 13) / (12, 7) as in the official segmentation
# configs; the 224 checkpoint's (14, 8) / (7, 4) filters are resized at load.
_base_ = './semantic_fpn_hornet_t_80k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/c212d1d8a3914b47a5c1/?dl=1'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, base='b-gf',
            gf_sizes=[None, None, (24, 13), (12, 7)]),
        drop_path_rate=0.5,
        init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
