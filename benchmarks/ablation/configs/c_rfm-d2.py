# (c) RFM backbone (dilated residual blocks + SE, dilation 2, the default)
# + stock HeatmapHead + MSE: Table III's RFM row.
_base_ = ['./_base_/stock_head.py']
