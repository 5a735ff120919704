# As ./mask_rcnn_hornet_s_horfpn_1x.py with global filters in the gnConvs of
# the neck (official horfpn_gf_mask_rcnn_hornet_small_7x7_1x_coco_in1k.py:
# type='gngf' with its default h=32, w=17, resized to each level at run time).
_base_ = './mask_rcnn_hornet_s_horfpn_1x.py'

model = dict(
    neck=dict(
        gnconv_cfg=dict(_delete_=True, order=2, gf_size=(32, 17),
                        proj_out=True)))
