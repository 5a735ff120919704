# Swin-ACmix-S (ImageNet-1k pre-trained); the rest, drop path 0.3 included,
# as in the _base_ config.
_base_ = './semantic_fpn_acmix_swin_t_80k.py'

checkpoint = 'https://cloud.tsinghua.edu.cn/f/8bed555e75c840f8a00d/?dl=1'
model = dict(backbone=dict(arch='s', init_cfg=dict(checkpoint=checkpoint)))
