# (k) full SADI-Net with a constant weight in place of chi: chi fixed at
# 0.050181, the mean chi of (f2) seed 0 over its last epoch on the hard tier,
# with L_H1 summed over the pixels as (f2). Against (f2): what weighting by
# the predicted sigma adds beyond a constant weight of the same mean.
_base_ = ['./_base_/study_base.py']
model = dict(
    head=dict(
        loss=dict(
            weighting='constant', chi_value=0.050181, h1_reduction='sum')))
