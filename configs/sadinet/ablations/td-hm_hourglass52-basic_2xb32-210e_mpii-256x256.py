# Table III/IV baseline: Hourglass-52 with plain basic blocks, built from the
# same RFMHourglass code (block_type='basic'), stock HeatmapHead on the last
# stack's feature, MSE loss. Same recipe and test as the full model.
_base_ = ['../td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']
codec = dict(
    type='FlowHeatmapCodec',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=2)
model = dict(
    backbone=dict(block_type='basic', multiscale_out=False),
    neck=None,
    head=dict(
        _delete_=True,
        type='HeatmapHead',
        in_channels=256,
        out_channels=16,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec))
