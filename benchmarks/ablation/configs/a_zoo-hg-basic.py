# (a) the model zoo's protocol as the external anchor: MMPose's stock
# TopdownPoseEstimator + HeatmapHead + KeypointMSELoss + MSRAHeatmap codec on
# a plain hourglass of the study's width. MMPose's own HourglassNet
# hard-codes a 256-channel stem, so the plain hourglass is this project's
# RFMHourglass with block_type='basic' (MMPose's BasicBlock).
_base_ = ['./_base_/stock_head.py']
codec = dict(
    type='MSRAHeatmap',
    input_size=(128, 128),
    heatmap_size=(32, 32),
    sigma=1.5)
model = dict(
    type='TopdownPoseEstimator',
    backbone=dict(block_type='basic'),
    head=dict(decoder=codec),
    # MMPose's flip for MSRAHeatmap's u * W / w grid
    test_cfg=dict(shift_heatmap=True))
train_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0,
        rotate_factor=30,
        scale_factor=(0.75, 1.25)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
