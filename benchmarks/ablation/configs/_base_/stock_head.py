# The backbone alone under MMPose's stock HeatmapHead + KeypointMSELoss on the
# last stack's feature (no SFM, no DLM): the rows of Table III.
_base_ = ['./study_base.py']
model = dict(
    backbone=dict(multiscale_out=False),
    neck=None,
    head=dict(
        _delete_=True,
        type='HeatmapHead',
        in_channels=32,
        out_channels=16,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder={{_base_.codec}}),
    train_cfg=dict(_delete_=True))
