# HorNet-B (7x7) ImageNet-1k: hornet-small_8xb64_in1k.py with drop path 0.5
# (TRAINING.md; gradient clipping 5, 4096 images per step officially).
_base_ = './hornet-small_8xb64_in1k.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.5),
    head=dict(in_channels=1024))
