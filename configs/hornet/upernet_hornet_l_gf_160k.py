# HorNet-L GF (ImageNet-22k pre-trained); the rest as in the _base_ config.
# Global filters sized (24, 13) / (12, 7) as in the official segmentation
# configs; the 224 checkpoint's (14, 8) / (7, 4) filters are resized at load.
_base_ = './upernet_hornet_l_160k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8600206ebdfa485f98d0/?dl=1'
model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, base='l-gf',
            gf_sizes=[None, None, (24, 13), (12, 7)]),
        with_cp=True,  # official use_checkpoint
        init_cfg=dict(checkpoint=checkpoint)))
optim_wrapper = dict(
    clip_grad=dict(max_norm=0.1, norm_type=2))
