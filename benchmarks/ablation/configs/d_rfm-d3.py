# (d) RFM backbone with dilation 3 (with dilation 2 the dilated branch sees
# the same 5x5 window as two stacked 3x3 convs; 3 enlarges it) + stock head.
_base_ = ['./_base_/stock_head.py']
model = dict(backbone=dict(dilation=3))
