# MPII test-set predictions of the paper's MPII model, for the MPII
# benchmark's own evaluation (the test annotations carry no joints).
#   python tools/test.py THIS_CONFIG CHECKPOINT \
#       --cfg-options test_evaluator.out_file=work_dirs/mpii_test/preds.mat
# (MMPose's tools/test.py, or `mim test mmpose`). Same model and test
# protocol as the base config (flip + six-scale pyramid, decode from H1);
# the file holds `preds` (N, 16, 2): one row per record of mpii_test.json in
# file order, MPII joint ids 0-15, 1-based x, y. docs/data.md says how the
# MPII evaluation scripts take it.
_base_ = ['./td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py']

test_dataloader = dict(
    dataset=dict(
        type='MpiiTestDataset',  # every record kept, no joints needed
        ann_file='annotations/mpii_test.json',
        headbox_file=None))
test_evaluator = dict(
    _delete_=True,
    type='MpiiPredictionDump',
    out_file='work_dirs/mpii_test/preds.mat')
