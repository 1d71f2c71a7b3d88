# MPII test-set predictions of the paper's MPII model, for the MPII
# benchmark's own evaluation (the test annotations carry no joints).
#   python tools/convert_mpii_test.py \
#       data/mpii/annotations/mpii_human_pose_v1_u12_1.mat
#   python tools/test.py THIS_CONFIG CHECKPOINT
# (MMPose's tools/test.py, or `mim test mmpose`). Same model and test
# protocol as the base config (flip + six-scale pyramid, decode from H1);
# the file is the `pred` struct that the evaluation loads from
# pred_keypoints_mpii.mat: one entry per test image of the release's
# annolist, 1-based x, y per joint id 0-15 of each single-person rectangle.
# docs/data.md gives the whole flow.
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']

test_pipeline = [
    dict(type='SafeLoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='MultiScaleTopdownAffine', input_size=(256, 256),
         scales={{_base_.ms_scales}}),
    # the record's annolist and rectangle indices ride along to the dump
    dict(type='PackPoseInputs',
         meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape',
                    'img_shape', 'input_size', 'input_center', 'input_scale',
                    'flip', 'flip_direction', 'flip_indices', 'dataset_name',
                    'ms_inputs', 'ms_scales', 'annolist_index',
                    'rect_index'))
]
test_dataloader = dict(
    dataset=dict(
        type='MpiiTestDataset',  # every record kept, no joints needed
        ann_file='annotations/mpii_test.json',
        images_file='annotations/mpii_test_images.json',
        headbox_file=None,
        pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='MpiiPredictionDump',
    out_file='work_dirs/mpii_test/pred_keypoints_mpii.mat')
