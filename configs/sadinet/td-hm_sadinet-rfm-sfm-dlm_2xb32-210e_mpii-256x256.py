# SADI-Net on MPII at 256x256: the paper's model and recipe (sections III,
# IV-C).
#   RFM backbone (Hourglass-52 layout, dilated residual blocks + SE)
#   -> SFM neck (global + local spatial attention over F1..F4, pooled f)
#   -> DLM head (H1 heatmaps + RealNVP-rendered H2), chi-weighted loss.
# Recipe: Adam 1e-3, x0.1 at epochs 170 and 200 of 210, rotation +-80,
# scale 0.5-1.5, flip 0.5; test: flip + six-scale image pyramid.
# The paper trained on two RTX 3090s; its batch size is not stated (2x32 here).
# Plugin import, Adam + gradient clipping, checkpoint hooks: the shared base.
_base_ = ['../_base_/sadinet_runtime.py']

# runtime
train_cfg = dict(max_epochs=210, val_interval=10)

# optimizer: the paper's Adam 1e-3 (with the base's gradient clipping).
# fused=True: PyTorch's one-kernel Adam (the same update as the default
# multi-tensor one, in one pass over the 151 M parameters and their moments
# instead of one per elementary operation; CPU and CUDA).
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, fused=True))

# learning policy
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001,
         by_epoch=False),  # warm-up
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200],
         gamma=0.1, by_epoch=True)
]

# the recipe's lr is for the total batch of 64; scaled when --auto-scale-lr
auto_scale_lr = dict(base_batch_size=64)

# codec: Gaussian heatmaps for H1 + normalised coordinates for the DLM
codec = dict(
    type='FlowHeatmapCodec',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=2)

# test-time scales of the image pyramid (the paper: six scales plus flip)
ms_scales = [0.75, 0.875, 1.0, 1.125, 1.25, 1.375]

# model settings
model = dict(
    type='MSTopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='RFMHourglass',
        num_stacks=1,
        block_type='dilated',
        dilation=2,
        se_ratio=16,
        multiscale_out=True,
        ms_channels=(64, 128, 256, 512),
    ),
    neck=dict(
        type='SFMNeck',
        in_channels=(64, 128, 256, 512),
        in_indices=(0, 1, 2, 3),
        out_channels=2048,
    ),
    head=dict(
        type='DLMHead',
        in_channels=256,
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
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        # the codec's heatmaps are aligned to pixel centres: a mirrored
        # heatmap needs no shift (docs/data.md, "Coordinates")
        shift_heatmap=False,
        shift_coords=False,
        multiscale_test=dict(scales=ms_scales),
    ))

# base dataset settings
dataset_type = 'SafeMpiiDataset'  # MpiiDataset + input checks
data_mode = 'topdown'
data_root = 'data/mpii/'

# pipelines
train_pipeline = [
    # skip_bad_images=True skips unreadable images with a counted warning
    dict(type='SafeLoadImage', skip_bad_images=False),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal', prob=0.5),
    # MMPose's sampling, every argument written out (docs/data.md, "Training
    # augmentation"): scale 1 + 0.5 t, rotation 80 t degrees on 60 % of the
    # samples, t ~ N(0, 1) truncated to [-1, 1]; no shift
    dict(type='RandomBBoxTransform', shift_factor=0.16, shift_prob=0.,
         scale_factor=(0.5, 1.5), scale_prob=1.0, rotate_factor=80.,
         rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    # the scale-1 crop plus one crop per test scale, re-extracted from the
    # image
    dict(type='MultiScaleTopdownAffine', input_size=codec['input_size'],
         scales=ms_scales),
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape',
                    'img_shape', 'input_size', 'input_center', 'input_scale',
                    'flip', 'flip_direction', 'flip_indices', 'dataset_name',
                    'ms_inputs', 'ms_scales'))
]

# data loaders
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/mpii_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/mpii_val.json',
        headbox_file='data/mpii/annotations/mpii_gt_val.mat',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
# PCKh with 0-based predictions and ground truth (docs/data.md)
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
