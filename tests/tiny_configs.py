"""Tiny configs for end-to-end tests on the five MPII sample images.

Each function returns the text of a complete MMPose config that trains for a
handful of iterations on 2 CPU cores. Tests write it to ``tmp_path`` and hand
it to MMPose's own tools (``tools/train.py``, ``tools/test.py``) or to
:class:`mmengine.runner.Runner`.
"""

_COMMON = '''
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)
_base_ = ['mmpose::_base_/default_runtime.py']
randomness = dict(seed=0)
train_cfg = dict(by_epoch=True, max_epochs={max_epochs}, val_interval={val_interval})
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=5.0))
param_scheduler = [dict(type='MultiStepLR', begin=0, end={max_epochs}, milestones=[{milestone}], gamma=0.1, by_epoch=True)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=-1,
                                     backend_args=dict(backend='atomic_local')))
custom_hooks = [dict(type='CheckpointGuardHook'), dict(type='RNGStateHook')]
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(window_size=1)
visualizer = dict(type='PoseLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')], name='visualizer')
codec = {codec}
model = {model}
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_prob=0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
dataset_type = 'MpiiDataset'  # MMPose's inferencer reads both
data_mode = 'topdown'
_dataset = dict(type=dataset_type, data_root={data_root!r}, data_mode=data_mode,
                ann_file='annotations/mpii_sample.json', data_prefix=dict(img='images/'))
train_dataloader = dict(batch_size={batch_size}, num_workers=0, persistent_workers=False, drop_last=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        dataset=dict(**_dataset, pipeline=train_pipeline))
val_dataloader = dict(batch_size={batch_size}, num_workers=0, persistent_workers=False, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
                      dataset=dict(**_dataset, test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PCKAccuracy', thr=0.2)
test_evaluator = val_evaluator
'''

#: A small stock MMPose model (ResNet-18 + HeatmapHead) at 64x64 input.
STOCK_CODEC = "dict(type='MSRAHeatmap', input_size=(64, 64), heatmap_size=(16, 16), sigma=2)"
STOCK_MODEL = '''dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='HeatmapHead', in_channels=512, out_channels=16,
              deconv_out_channels=(32, 32, 32), deconv_kernel_sizes=(4, 4, 4),
              loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))'''


def stock_tiny_config(data_root: str,
                      max_epochs: int = 2,
                      batch_size: int = 2,
                      model: str = STOCK_MODEL,
                      codec: str = STOCK_CODEC) -> str:
    """Text of a tiny config: stock model on the MPII sample, ``max_epochs``."""
    return _COMMON.format(
        max_epochs=max_epochs,
        val_interval=max_epochs,
        milestone=max(1, max_epochs - 1),
        codec=codec,
        model=model,
        data_root=data_root.rstrip('/') + '/',
        batch_size=batch_size)


#: A tiny SADI-Net (the project's own modules, narrow) at 64x64 input.
SADINET_CODEC = "dict(type='FlowHeatmapCodec', input_size=(64, 64), heatmap_size=(16, 16), sigma=1.5)"
SADINET_MODEL = '''dict(
    type='MSTopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='RFMHourglass', downsample_times=4, stage_channels=(16, 16, 16, 16, 16),
                  stage_blocks=(1, 1, 1, 1, 1), feat_channel=16, ms_channels=(8, 8, 16, 16)),
    neck=dict(type='SFMNeck', in_channels=(8, 8, 16, 16), global_channels=8,
              cls_channels=(8, 8, 16, 32), out_channels=32),
    head=dict(type='DLMHead', in_channels=16, vec_channels=32, out_channels=16,
              loss=dict(type='ChiWeightedLoss'), decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False,
                  shift_coords=False))'''


def sadinet_tiny_config(data_root: str,
                        max_epochs: int = 2,
                        batch_size: int = 2) -> str:
    """Text of a tiny config: a narrow SADI-Net on the MPII sample."""
    return stock_tiny_config(
        data_root,
        max_epochs=max_epochs,
        batch_size=batch_size,
        model=SADINET_MODEL,
        codec=SADINET_CODEC)


def model_only_config(codec: str, model: str) -> str:
    """Text of a config with a model, its codec and an optimizer but no data
    (what ``benchmarks/benchmark.py`` reads)."""
    return f'''
_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)
codec = {codec}
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3),
                     clip_grad=dict(max_norm=5.0))
model = {model}
'''
