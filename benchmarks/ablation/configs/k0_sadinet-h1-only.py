# (k0) full SADI-Net with the DLM branch in place but no L_H2: chi = 0, so
# the flow gets no gradient and the model trains on L_H1 (summed over the
# pixels) alone. Against (f2): what the DLM loss adds.
_base_ = ['./_base_/study_base.py']
model = dict(
    head=dict(
        loss=dict(weighting='constant', chi_value=0.0, h1_reduction='sum')))
