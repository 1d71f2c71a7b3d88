# Table III: the RFM alone (dilated residual blocks + SE) under a stock
# HeatmapHead with MSE loss: no SFM, no DLM.
_base_ = ['./td-hm_hourglass52-basic_2xb32-210e_mpii-256x256.py']
model = dict(backbone=dict(block_type='dilated'))
