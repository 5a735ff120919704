# Swin-T + ACmix ImageNet-1k classification: the official recipe
# (LeapLabTHU/ACmix Swin-Transformer/configs/acmix_swin_tiny_patch4_window7_
# .yaml on the Swin code), which is mmpretrain's swin-tiny_16xb64_in1k.py:
# AdamW lr 1e-3 for 1024 images per step (16 GPUs x 64), wd 0.05 with none on
# norms, biases, 1-D parameters and the relative position tables, 300 epochs,
# 20-epoch linear warm-up, cosine to 1e-5, gradient clipping 5, drop path
# 0.2, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, Mixup 0.8 /
# CutMix 1.0, label smoothing 0.1, no EMA; 224 crops, test resize 256 + center
# crop 224. The official checkpoint loads as released:
# python tools/test.py CONFIG acmix_swin_tiny.pth
_base_ = 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.SwinACmix',
        arch='t',
        drop_path_rate=0.2,
        out_indices=(3, )),
    head=dict(in_channels=768))
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]
