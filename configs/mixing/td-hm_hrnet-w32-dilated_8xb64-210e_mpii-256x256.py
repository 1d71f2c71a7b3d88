# Mixing (c): SADI-Net's dilated residual block inside MMPose's HRNet-w32.
# DilatedHRNet is mmpose's HRNet with one more entry in its block table
# (blocks_dict['DILATED'] = DilatedResidualBlock); every stage that uses
# 'BASIC' in the base config uses 'DILATED' here. Head, codec, recipe and
# data are MMPose's HRNet-w32 MPII config.
# The ImageNet-pretrained HRNet-w32 weights of the base still load: the
# dilated blocks keep a basic block's parameter names, so only their
# dilated branch and SE layers start from scratch (reported as missing
# keys by mmengine's loader).
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py'
]
custom_imports = dict(imports=['sadinet_mmpose'], allow_failed_imports=False)

custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='CheckpointGuardHook'),
    dict(type='RNGStateHook'),
]

model = dict(
    backbone=dict(
        type='DilatedHRNet',
        dilated_block_cfg=dict(branch_dilation=2, se_ratio=16),
        extra=dict(
            stage2=dict(block='DILATED'),
            stage3=dict(block='DILATED'),
            stage4=dict(block='DILATED'))))

# MPII joints in 0-based pixels, PCKh in that frame (docs/data.md,
# "Coordinates"); the base config's MpiiDataset keeps them 1-based
train_dataloader = dict(dataset=dict(type='SafeMpiiDataset'))
val_dataloader = dict(dataset=dict(type='SafeMpiiDataset'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MpiiPCKhAccuracy')
test_evaluator = val_evaluator
