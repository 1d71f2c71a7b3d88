# Shared base of the ablation study on synthetic data (the full SADI-Net tiny:
# RFM backbone, SFM neck, DLM head, chi-weighted loss). Every variant in this
# folder inherits it and changes one part; data, input size, codec
# resolution, widths, schedule and test protocol are the same for all. It
# spells the model and data out rather than inheriting the main job's
# config, so that a change to the shipped defaults (such as the loss
# balance) cannot silently change the variants of a recorded study.
_base_ = ['mmpose::_base_/default_runtime.py']
# the study's forms of the loss live beside the study: run with the
# repository root on PYTHONPATH (the study sets it)
custom_imports = dict(
    imports=['sadinet_mmpose', 'benchmarks.ablation.study_loss'],
    allow_failed_imports=False)

# the gradient balance of the two loss terms, logged into every record
custom_hooks = [dict(type='GradBalanceHook', interval=50)]

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
randomness = dict(seed=0)

optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=2e-3), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=50, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        eta_min=1e-5,
        by_epoch=True),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook',
        interval=max_epochs,
        max_keep_ckpts=1,
        save_last=True))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(window_size=10)

codec = dict(
    type='FlowHeatmapCodec',
    input_size=(128, 128),
    heatmap_size=(32, 32),
    sigma=1.5)

backbone = dict(
    type='RFMHourglass',
    downsample_times=4,
    num_stacks=1,
    stage_channels=(32, 32, 48, 64, 64),
    stage_blocks=(1, 1, 1, 1, 1),
    feat_channel=32,
    block_type='dilated',
    multiscale_out=True,
    ms_channels=(16, 32, 48, 64))
model = dict(
    type='MSTopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=backbone,
    neck=dict(
        type='SFMNeck',
        in_channels=(16, 32, 48, 64),
        global_channels=32,
        cls_channels=(16, 32, 64, 128),
        out_channels=256),
    head=dict(
        type='DLMHead',
        in_channels=32,
        vec_channels=256,
        out_channels=16,
        # the per-pixel mean L_H1 that (e), (f), (g) and (f3) were run with;
        # the *2 variants set 'sum'
        loss=dict(
            type='StudyChiWeightedLoss', weighting='chi', h1_reduction='mean'),
        decoder=codec),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=False,
        shift_coords=False))

dataset_type = 'SyntheticMpiiDataset'
data_root = 'data/synthetic_mpii_standard/'
data_common = dict(
    type=dataset_type,
    data_root=data_root,
    image_size=128,
    difficulty='standard')
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
val_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        **data_common, split='train', num_images=800, pipeline=train_pipeline))
# model selection split (the study decides defaults on it)
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        **data_common,
        split='val',
        num_images=150,
        test_mode=True,
        pipeline=val_pipeline))
# the reported split: never used for a choice
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        **data_common,
        split='test',
        num_images=300,
        test_mode=True,
        pipeline=val_pipeline))
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
