# ResNet-ACmix-26 (depths [1, 2, 4, 1]), from scratch (no released ImageNet
# weights); the rest as in the _base_ config.
_base_ = './mask_rcnn_acmix_r50_1x.py'

model = dict(backbone=dict(arch='26'))
