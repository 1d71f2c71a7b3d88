# MMPose's own HourglassNet + HeatmapHead (the zoo's Hourglass-52 config) at
# SADI-Net tiny's stage widths, one stack and 128x128 crops: a stock model of
# about SADI-Net tiny's size (HourglassNet's 256-channel stem makes it 1.6 M
# parameters against 1.18 M) for the latency page.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
          'td-hm_hourglass52_8xb64-210e_mpii-256x256.py']
codec = dict(
    type='MSRAHeatmap', input_size=(128, 128), heatmap_size=(32, 32), sigma=2)
model = dict(
    backbone=dict(
        downsample_times=4,
        num_stacks=1,
        stage_channels=(32, 32, 48, 64, 64),
        stage_blocks=(1, 1, 1, 1, 1),
        feat_channel=32),
    head=dict(in_channels=32, decoder=codec))
