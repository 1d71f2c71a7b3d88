# (h2) capacity control at the full model's size: the basic-block hourglass
# of (b) widened to the parameter count of SADI-Net tiny (f2: RFM, SFM and
# DLM, 1.18 M), same stock head: tells "SADI-Net helps" apart from "more
# parameters help".
_base_ = ['./_base_/stock_head.py']
model = dict(
    backbone=dict(
        block_type='basic',
        stage_channels=(44, 44, 66, 88, 88),
        feat_channel=44),
    head=dict(in_channels=44))
