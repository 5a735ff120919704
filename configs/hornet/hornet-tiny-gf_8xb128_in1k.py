# HorNet-T (GF) ImageNet-1k: the HorNet-T recipe (hornet-tiny_8xb128_in1k.py)
# with global filters in stages 3-4 and gradient clipping 1 (TRAINING.md).
_base_ = './hornet-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='t-gf'))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0))
