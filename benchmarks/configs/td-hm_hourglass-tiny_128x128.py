# MMPose's own HourglassNet + HeatmapHead (the zoo's Hourglass-52 config)
# made as small as it runs, at SADI-Net tiny's input size: one stack, four
# down-samplings, SADI-Net tiny's inner widths. HourglassNet's stem is 256
# channels wide and its first stage must match it, so it keeps 4.4 M
# parameters (SADI-Net tiny: 1.18 M). A stock model for the latency page.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hourglass52_8xb64-210e_mpii-256x256.py'
]
codec = dict(
    type='MSRAHeatmap', input_size=(128, 128), heatmap_size=(32, 32), sigma=2)
model = dict(
    backbone=dict(
        downsample_times=4,
        num_stacks=1,
        stage_channels=(256, 32, 32, 48, 48),
        stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=32),
    head=dict(in_channels=32, decoder=codec))
