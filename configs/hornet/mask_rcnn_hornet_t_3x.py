# Mask R-CNN 3x with HorNet-T (7x7), COCO: mmdet's ConvNeXt Mask R-CNN 3x
# recipe (mask-rcnn_convnext-t-p4-w7_fpn_amp-ms-crop-3x_coco.py) in fp32 with
# the 500-iter warm-up of the HorNet recipes; everything else as in
# ./mask_rcnn_hornet_t_1x.py. No official HorNet counterpart.
_base_ = './mask_rcnn_hornet_t_1x.py'

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[27, 33], gamma=0.1)
]
