# ViT-LSLA-T ImageNet-1k classification, for pre-training ViT-LSLA (no
# weights exist anywhere). The paper gives no ImageNet recipe; this is the
# Swin-T one it compares with (mmpretrain's swin-tiny_16xb64_in1k.py): AdamW
# lr 1e-3 for 1024 images per step (16 GPUs x 64), wd 0.05 with none on
# norms, biases, 1-D parameters and the relative / dynamic-scale /
# outer-bias tables, 300 epochs, 20-epoch warm-up, cosine to 1e-5, gradient
# clipping 5, drop path 0.2 (Swin-T's), RandAugment m9, random erasing 0.25,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1; 224 crops.
_base_ = 'mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py'
custom_imports = dict(imports=['mmhybrid'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='mmhybrid.ViTLSLA',
        arch='t',
        drop_path_rate=0.2,
        out_indices=(3, )),
    head=dict(in_channels=768))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '.dynamic_scale_table': dict(decay_mult=0.0),
            '.outer_bias_table': dict(decay_mult=0.0)
        }))
custom_hooks = [dict(type='mmhybrid.CheckpointLoadHook')]
