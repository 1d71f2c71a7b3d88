# (e2) basic-block hourglass + SFM + DLM with L_H1 summed over the pixels:
# Table IV under the balanced terms of (f2).
_base_ = ['./_base_/study_base.py']
model = dict(
    backbone=dict(block_type='basic'),
    head=dict(loss=dict(h1_reduction='sum')))
