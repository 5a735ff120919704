# ViT-LSLA-T image classification on a 100-class ImageNet-style folder
# (Mini-ImageNet, the paper's second dataset): data_root/train/<class>/*.jpg
# and data_root/val/<class>/*.jpg, read by mmpretrain's CustomDataset.
# The paper gives no training recipe beyond "two Tesla P100 GPUs"; this is
# mmpretrain's Swin-T ImageNet recipe (swin-tiny_16xb64_in1k.py: 224 random
# resized crops, RandAugment, random erasing, Mixup 0.8 / CutMix 1.0, label
# smoothing 0.1, AdamW 1e-3 for 1024 images per step, wd 0.05 with none on
# norms, biases, 1-D parameters and relative tables, 20-epoch warm-up, cosine
# to 1e-5 over 300 epochs, gradient clipping at 5) with the backbone swapped,
# no weight decay on the dynamic-scale and outer-bias tables either, and
# drop path 0.1 (a 19M model on ~50k images; Swin-T on ImageNet uses 0.2).
# 64 images per GPU; on fewer than 16 GPUs pass --auto-scale-lr.
# Point it at your data with --data-root, or edit data_root.
_base_ = [
    'mmpretrain::_base_/models/swin_transformer/tiny_224.py',
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)
# whole-model checkpoints in official layouts load with a report and a
# floor, with the stock mmdet/mmseg tools too
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]

num_classes = 100
data_root = 'data/mini-imagenet/'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ViTLSLA',
        arch='t',
        drop_path_rate=0.1,
        out_indices=(3, )),
    head=dict(num_classes=num_classes, in_channels=768))
data_preprocessor = dict(num_classes=num_classes)

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '.dynamic_scale_table': dict(decay_mult=0.0),
            '.outer_bias_table': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=5.0))
