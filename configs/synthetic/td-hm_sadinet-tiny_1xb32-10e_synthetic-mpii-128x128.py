# The main job: a small SADI-Net (same modules, narrow channels) trained and
# evaluated on synthetic MPII-style figures that the dataset generates on
# first use (data/synthetic_mpii/, no download), sized for a 2-core CPU:
# `python tools/main.py` runs it end to end (README "Main job" gives the
# measured time and PCKh).
# Plugin import, Adam + gradient clipping, checkpoint hooks: the shared base.
_base_ = ['../_base_/sadinet_runtime.py']

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
randomness = dict(seed=0)

optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, T_max=max_epochs,
         eta_min=1e-5, by_epoch=True),
]

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=2, save_best='PCKh-AUC'))
log_processor = dict(window_size=10)

codec = dict(
    type='FlowHeatmapCodec', input_size=(128, 128), heatmap_size=(32, 32),
    sigma=1.5)

model = dict(
    type='MSTopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='RFMHourglass',
        downsample_times=4,
        num_stacks=1,
        stage_channels=(32, 32, 48, 64, 64),
        stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=32,
        block_type='dilated',
        multiscale_out=True,
        ms_channels=(16, 32, 48, 64)),
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
        # chi-weighted loss, L_H1 summed over the heatmap's pixels (the two
        # terms on comparable gradient scales, docs/ablation.md)
        loss=dict(type='ChiWeightedLoss', weighting='chi'),
        decoder=codec,
        # fitted after training (tools/fit_error_head.py): the sigma of the
        # returned keypoint (docs/uncertainty.md)
        error_head=dict(type='KeypointErrorHead')),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False,
                  shift_coords=False))

dataset_type = 'SyntheticMpiiDataset'
data_root = 'data/synthetic_mpii/'
train_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_prob=0, rotate_factor=30,
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
    # contiguous tensors and two data workers: channels-last with in-process
    # loading trains faster but failed the numerics check at PCKh@0.1
    # (benchmarks/results/train_speed_cpu.md)
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 num_images=2000, image_size=128, difficulty='easy',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 num_images=300, image_size=128, difficulty='easy',
                 test_mode=True, pipeline=val_pipeline))
# reported split: its own images (seed of split 'test'), never used for a
# choice; the best checkpoint is selected and sigma calibrated on val
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 num_images=300, image_size=128, difficulty='easy',
                 test_mode=True, pipeline=val_pipeline))
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
