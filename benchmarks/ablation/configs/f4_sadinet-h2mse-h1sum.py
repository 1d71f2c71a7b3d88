# (f4) full SADI-Net, chi-weighted, L_H2 as the MSE of the rendered H2
# against the H1 target on a 9x9 window per joint (the paper's labelling of
# both terms as MSE, Eqs. 6-7), with L_H1 summed over the pixels as (f2).
_base_ = ['./_base_/study_base.py']
model = dict(
    head=dict(loss=dict(h2_loss='mse', mse_window=9, h1_reduction='sum')))
