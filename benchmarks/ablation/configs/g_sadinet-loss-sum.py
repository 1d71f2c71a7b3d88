# (g) full SADI-Net, unweighted L_H1 + L_H2 (Table V's ablation).
_base_ = ['./_base_/study_base.py']
model = dict(head=dict(loss=dict(weighting='sum')))
