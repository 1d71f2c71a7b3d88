# (g2) full SADI-Net, unweighted L_H1 + L_H2 with L_H1 summed over the
# pixels: Table V's comparison under the balanced terms of (f2).
_base_ = ['./_base_/study_base.py']
model = dict(head=dict(loss=dict(weighting='sum', h1_reduction='sum')))
