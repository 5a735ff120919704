# HorNet-S (7x7) ImageNet-1k: the HorNet-T recipe (hornet-tiny_8xb128_in1k.py)
# with drop path 0.4 and gradient clipping 5 (TRAINING.md). Official: 4096
# images per step (32 GPUs x 64, update_freq 2) at lr 4e-3; here 8 GPUs x 64
# = 512 at the linearly scaled 5e-4 (--auto-scale-lr for other totals).
_base_ = './hornet-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='s', drop_path_rate=0.4),
    head=dict(in_channels=768))
train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(lr=4e-3 * 512 / 4096), clip_grad=dict(max_norm=5.0))
auto_scale_lr = dict(base_batch_size=512)
