# (e) basic-block hourglass + SFM + DLM, chi-weighted loss (Table IV).
_base_ = ['./_base_/study_base.py']
model = dict(backbone=dict(block_type='basic'))
