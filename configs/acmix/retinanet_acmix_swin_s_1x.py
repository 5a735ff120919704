# Swin-ACmix-S (ImageNet-1k pre-trained); the rest, drop path 0.2 included,
# as in the _base_ config.
_base_ = './retinanet_acmix_swin_t_1x.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8bed555e75c840f8a00d/?dl=1'
model = dict(backbone=dict(arch='s', init_cfg=dict(checkpoint=checkpoint)))
