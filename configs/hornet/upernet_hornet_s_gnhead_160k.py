# UperNet 160k with HorNet-S (7x7) and the HorFPN segmentation head
# (GNUPerHead: the 3x3 fpn_bottleneck of UPerHead becomes an order-2 gnConv
# with a 7x7 depthwise conv), ADE20K 512x512: the official recipe
# (raoyongming/HorNet semantic_segmentation/configs/horfpn/
# horfpn_7x7_upernet_hornet_small_7x7_512_160k_ade20k.py). Everything else as
# in the _base_ config (the UperHead baseline). No official numbers (paper
# only).
_base_ = './upernet_hornet_s_160k.py'

model = dict(
    decode_head=dict(
        type='mmhybrid.GNUPerHead',
        gnconv_cfg=dict(order=2, kernel_size=7, proj_out=True)))
