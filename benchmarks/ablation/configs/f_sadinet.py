# (f) full SADI-Net tiny: RFM (dilation 2) + SFM + DLM, chi-weighted loss
# (1 - chi) L_H1 + chi L_H2 with L_H2 the NLL (the paper's model).
_base_ = ['./_base_/study_base.py']
