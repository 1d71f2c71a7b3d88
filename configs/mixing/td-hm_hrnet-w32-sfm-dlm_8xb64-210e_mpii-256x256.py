# Mixing (a): MMPose's stock HRNet-w32 backbone under SADI-Net's SFM neck and
# DLM head, with the FlowHeatmapCodec. Everything else (recipe, data,
# evaluation) is MMPose's HRNet-w32 MPII config.
#   HRNet stage 4 returns all four branches (multiscale_output=True):
#   (B, 32, 64, 64), (B, 64, 32, 32), (B, 128, 16, 16), (B, 256, 8, 8).
#   SFMNeck attends over all four and passes branch 0 through untouched
#   (keep_indices=(0,)); DLMHead draws H1 from it and regresses (mu, sigma)
#   from the pooled vector.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py'
]
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)

# the flow's log-likelihood is guarded against rare spikes (as in SADI-Net)
optim_wrapper = dict(clip_grad=dict(max_norm=5.0, norm_type=2))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='CheckpointGuardHook'),
    dict(type='RNGStateHook'),
]

# one codec for both branches: Gaussian heatmaps for H1, normalised
# coordinates for the DLM; it must replace MSRAHeatmap everywhere the base
# config used it (the train pipeline and the head's decoder).
codec = dict(
    type='FlowHeatmapCodec',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=2)

model = dict(
    # MMPose's TopdownPoseEstimator plus keypoint_sigmas mapped to image
    # pixels (and an optional multi-scale test)
    type='MSTopdownPoseEstimator',
    backbone=dict(
        extra=dict(stage4=dict(multiscale_output=True))),
    neck=dict(
        type='SFMNeck',
        in_channels=(32, 64, 128, 256),
        in_indices=(0, 1, 2, 3),
        keep_indices=(0, ),
        out_channels=2048,
    ),
    head=dict(
        _delete_=True,
        type='DLMHead',
        in_channels=32,
        vec_channels=2048,
        out_channels=16,
        num_stages=1,
        # chi-weighted loss, L_H1 summed over the heatmap's pixels (the two
        # terms on comparable gradient scales, docs/ablation.md)
        loss=dict(type='ChiWeightedLoss', weighting='chi'),
        decoder=codec,
        # fitted after training (tools/fit_error_head.py): the sigma of the
        # returned keypoint (docs/uncertainty.md)
        error_head=dict(type='KeypointErrorHead')),
    # the codec's heatmaps are aligned to pixel centres: no flip shift
    test_cfg=dict(shift_heatmap=False, shift_coords=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    # MMPose's HRNet recipe, every argument written out (docs/data.md)
    dict(type='RandomBBoxTransform', shift_factor=0.16, shift_prob=0.,
         scale_factor=(0.5, 1.5), scale_prob=1.0, rotate_factor=80.,
         rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    dataset=dict(type='SafeMpiiDataset', pipeline=train_pipeline))
# MPII joints in 0-based pixels, PCKh in that frame (docs/data.md,
# "Coordinates"); the base config's MpiiDataset keeps them 1-based
val_dataloader = dict(dataset=dict(type='SafeMpiiDataset'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
