# ResNet-ACmix-38 (depths [2, 3, 5, 2]), from scratch (no released ImageNet
# weights); the rest as in the _base_ config.
_base_ = './mask_rcnn_acmix_r50_1x.py'

model = dict(backbone=dict(arch='38'))
