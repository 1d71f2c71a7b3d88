# (h) capacity control: the basic-block hourglass of (b) widened to about
# the parameter count of the RFM backbone in (c), same stock head: tells
# "the RFM helps" apart from "more parameters help".
_base_ = ['./_base_/stock_head.py']
model = dict(
    backbone=dict(
        block_type='basic',
        stage_channels=(40, 40, 60, 80, 80),
        feat_channel=40),
    head=dict(in_channels=40))
