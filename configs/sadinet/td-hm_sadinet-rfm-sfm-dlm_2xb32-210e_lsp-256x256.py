# SADI-Net on LSP at 256x256 (the paper's Table II, PCK@0.2).
# Model and recipe from the MPII config (Adam 1e-3, x0.1 at epochs 170/200 of
# 210, rotation +-80, scale 0.5-1.5, flip 0.5; flip + six-scale test) with a
# 14-joint head. Training: LSP train (1000) + LSPET (10000) + MPII train
# (16 joints -> LSP's 14 by KeypointConverter), as the paper (IV-D2).
# Test: the LSP test split (images 1001-2000) with LSPPCKAccuracy.
# Data: data/lsp/{lsp_dataset,lspet_dataset} converted with
#   python tools/convert_lsp.py data/lsp
# and MPII under data/mpii/ (see docs/data.md).
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']

lsp_root = 'data/lsp/'
mpii_root = 'data/mpii/'
lsp_metainfo = dict(
    from_file='{{ fileDirname }}/../../sadinet_mmpose/datasets/metainfo/lsp.py')

# MPII index -> LSP index (LSP's neck is MPII's upper neck; pelvis and
# thorax are dropped)
mpii_to_lsp = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (10, 6),
               (11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (8, 12), (9, 13)]

model = dict(head=dict(out_channels=14))

# same codec and test scales as the MPII config (repeated: pipelines are
# lists, which a child config replaces rather than merges)
codec = dict(
    type='FlowHeatmapCodec',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=2)
ms_scales = [0.75, 0.875, 1.0, 1.125, 1.25, 1.375]

train_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal', prob=0.5),
    dict(type='RandomBBoxTransform', shift_prob=0, rotate_factor=80,
         scale_factor=(0.5, 1.5)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
test_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='MultiScaleTopdownAffine', input_size=codec['input_size'],
         scales=ms_scales),
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape',
                    'img_shape', 'input_size', 'input_center', 'input_scale',
                    'flip', 'flip_direction', 'flip_indices', 'dataset_name',
                    'ms_inputs', 'ms_scales'))
]

dataset_lsp = dict(
    type='LSPDataset',
    data_root=lsp_root,
    ann_file='annotations/lsp_train.json',
    data_prefix=dict(img=''),
    pipeline=[])
dataset_lspet = dict(
    type='LSPDataset',
    data_root=lsp_root,
    ann_file='annotations/lspet_train.json',
    data_prefix=dict(img=''),
    pipeline=[])
dataset_mpii = dict(
    type='SafeMpiiDataset',
    data_root=mpii_root,
    ann_file='annotations/mpii_train.json',
    data_prefix=dict(img='images/'),
    pipeline=[
        dict(type='KeypointConverter', num_keypoints=14, mapping=mpii_to_lsp)
    ])

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=lsp_metainfo,
        datasets=[dataset_lsp, dataset_lspet, dataset_mpii],
        pipeline=train_pipeline,
        test_mode=False))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='LSPDataset',
        data_root=lsp_root,
        ann_file='annotations/lsp_test.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='LSPPCKAccuracy', thr=0.2)
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='LSP/PCK', rule='greater'))
