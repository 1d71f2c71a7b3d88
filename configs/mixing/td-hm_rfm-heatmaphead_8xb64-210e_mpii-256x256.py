# Mixing (b): SADI-Net's RFM backbone (hourglass with dilated residual
# blocks + SE) in MMPose's stock Hourglass-52 MPII config: stock
# TopdownPoseEstimator, stock heatmap head (CPMHead with one stage, as the
# base config), stock MSRAHeatmap codec and KeypointMSELoss. Only the
# backbone differs from the base.
#   multiscale_out=False: the backbone returns (S_1, ..., S_N), one
#   (B, 256, 64, 64) feature per stack, exactly as stock HourglassNet.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hourglass52_8xb64-210e_mpii-256x256.py'
]
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)

custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='CheckpointGuardHook'),
    dict(type='RNGStateHook'),
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='RFMHourglass',
        num_stacks=1,
        block_type='dilated',
        multiscale_out=False,
    ))

# MPII joints in 0-based pixels, PCKh in that frame (docs/data.md,
# "Coordinates"); the base config's MpiiDataset keeps them 1-based
train_dataloader = dict(dataset=dict(type='SafeMpiiDataset'))
val_dataloader = dict(dataset=dict(type='SafeMpiiDataset'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
