# As ./upernet_hornet_s_gnhead_160k.py with a global filter in the gnConv of
# the head (official horfpn_gf_upernet_hornet_small_7x7_512_160k_ade20k.py:
# type='gngf', h=32, w=17) and gradient clipping at 0.1 as there.
_base_ = './upernet_hornet_s_gnhead_160k.py'

model = dict(
    decode_head=dict(
        gnconv_cfg=dict(_delete_=True, order=2, gf_size=(32, 17),
                        proj_out=True)))
optim_wrapper = dict(clip_grad=dict(max_norm=0.1, norm_type=2))
