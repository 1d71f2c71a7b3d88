# Runtime settings shared by the project's SADI-Net configs, on top of
# MMPose's default runtime (hooks, logging, visualiser, env). A config
# inherits it with `_base_ = ['../_base_/sadinet_runtime.py']` and overrides
# what differs (a key given again is merged into, or replaces, these).
_base_ = ['mmpose::_base_/default_runtime.py']

# the plugin's modules, imported by every MMPose tool that reads the config
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)

# top-down data (one person box per sample); MMPose's inferencer reads it
data_mode = 'topdown'

# optimizer: Adam with gradient clipping, which guards the flow's
# log-likelihood against rare spikes (RLE's fix for NaN)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=1e-3),
    clip_grad=dict(max_norm=5.0, norm_type=2))

# hooks: checkpoints are written atomically (temp file + rename) and the best
# one by PCK is kept; the guard resumes only from complete checkpoints and
# refuses to overwrite an earlier run's; the RNG states travel in the
# checkpoints so a resumed run draws the same augmentations as an
# uninterrupted one; BN buffers are averaged over processes after each epoch.
default_hooks = dict(
    checkpoint=dict(save_best='PCK', rule='greater',
                    backend_args=dict(backend='atomic_local')))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='FlushDenormalHook'),
    dict(type='CheckpointGuardHook'),
    dict(type='RNGStateHook'),
]
