# Table V: the full model trained with the unweighted loss L_H1 + L_H2
# (the chi-weighted (1 - chi) L_H1 + chi L_H2 is the main config).
_base_ = ['../td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
model = dict(head=dict(loss=dict(weighting='sum')))
