# HorNet-B GF (ImageNet-1k pre-trained); the rest as in the _base_ config.
# Global filters sized (24, 13) / (12, 7) as in the official segmentation
# configs; the 224 checkpoint's (14, 8) / (7, 4) filters are resized at load.
_base_ = './upernet_hornet_t_160k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/c212d1d8a3914b47a5c1/?dl=1'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, base='b-gf',
            gf_sizes=[None, None, (24, 13), (12, 7)]),
        drop_path_rate=0.5,
        init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
optim_wrapper = dict(
    paramwise_cfg=dict(num_layers=12),
    clip_grad=dict(max_norm=1.0, norm_type=2))
