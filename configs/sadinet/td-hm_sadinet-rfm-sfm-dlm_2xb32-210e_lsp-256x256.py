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
    from_file='{{ fileDirname }}/../../sadinet_mmpose/datasets/metainfo/'
    'lsp.py')

# MPII index -> LSP index (LSP's neck is MPII's upper neck; pelvis and
# thorax are dropped)
mpii_to_lsp = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (10, 6),
               (11, 7), (12, 8), (13, 9), (14, 10), (15, 11), (8, 12), (9, 13)]

model = dict(head=dict(out_channels=14))

# the MPII config's pipelines (the same recipe and six-scale + flip test)
train_pipeline = {{_base_.train_pipeline}}
test_pipeline = {{_base_.val_pipeline}}

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
