# (f2) full SADI-Net, chi-weighted, L_H1 summed over the heatmap's pixels
# instead of averaged: the two terms on comparable gradient scales.
_base_ = ['./_base_/study_base.py']
model = dict(head=dict(loss=dict(h1_reduction='sum')))
