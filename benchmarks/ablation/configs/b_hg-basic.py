# (b) basic-block hourglass (RFMHourglass, block_type='basic') + stock
# HeatmapHead + MSE, with the project's codec: Table III's baseline.
_base_ = ['./_base_/stock_head.py']
model = dict(backbone=dict(block_type='basic'))
