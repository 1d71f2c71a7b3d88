# (f3) full SADI-Net, chi-weighted, L_H2 as the MSE of the rendered H2
# against the Gaussian target on a 9x9 window per joint (the paper's literal
# naming of both terms as MSE).
_base_ = ['./_base_/study_base.py']
model = dict(head=dict(loss=dict(h2_loss='mse', mse_window=9)))
