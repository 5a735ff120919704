# Mask R-CNN 1x with HorNet-S (7x7) and HorFPN (the 3x3 output convs of the
# FPN become order-2 gnConvs with a 7x7 depthwise conv), COCO: the official
# recipe (raoyongming/HorNet object_detection/configs/horfpn/
# horfpn_7x7_mask_rcnn_hornet_small_7x7_1x_coco_in1k.py). Everything else as
# in the _base_ config, which is the official FPN baseline. No official
# numbers (paper only).
_base_ = './mask_rcnn_hornet_s_1x.py'

model = dict(
    neck=dict(
        type='mmhybrid.HorFPN',
        gnconv_cfg=dict(order=2, kernel_size=7, proj_out=True)))
