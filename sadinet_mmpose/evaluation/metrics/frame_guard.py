"""Stop a run whose MPII dataset and PCKh metric disagree on the frame.

MMPose's ``MpiiDataset`` keeps MPII's 1-based joints and its
``MpiiPCKAccuracy`` adds 1 to every prediction to meet them. The project's
MPII datasets (``SafeMpiiDataset`` and its subclasses) load the joints
0-based and go with ``MpiiPCKhAccuracy``, which adds nothing. Crossing the
pairs scores every prediction 1 px off in x and in y without any error.

The project's datasets write ``keypoint_frame='0-based'`` and
``keypoint_frame_source=<class>`` into their metainfo. Both metrics check
the metainfo the runner hands them (``Evaluator.dataset_meta``, set when
the validation or test loop is built, before the first iteration), so
``tools/train.py``, ``tools/test.py`` and ``mim`` stop with an error that
names both classes and the fix.
"""
import copy

from mmengine.evaluator import BaseMetric

#: The metainfo key the project's datasets set, and its value.
FRAME_KEY = 'keypoint_frame'
ZERO_BASED = '0-based'
SOURCE_KEY = 'keypoint_frame_source'


def mark_zero_based(metainfo: dict, source: str) -> dict:
    """``metainfo`` with the 0-based frame and the dataset class named."""
    metainfo[FRAME_KEY] = ZERO_BASED
    metainfo[SOURCE_KEY] = source
    return metainfo


def frame_mismatch(metric: str, expects: str, meta) -> str:
    """The error text when ``metric`` (which ``expects`` ``'0-based'`` or
    ``'1-based'`` MPII joints) gets ``meta``; '' when they agree or the
    dataset is not MPII."""
    if not isinstance(meta, dict):
        return ''
    frame = meta.get(FRAME_KEY)
    if frame is None:
        if meta.get('dataset_name') != 'mpii':
            return ''
        frame, source = '1-based', "MMPose's MpiiDataset"
    else:
        source = meta.get(SOURCE_KEY, 'a dataset of sadinet_mmpose')
    if frame == expects:
        return ''
    if expects == ZERO_BASED:
        fix = ("use MMPose's MpiiPCKAccuracy with MMPose's MpiiDataset, or "
               "SafeMpiiDataset with MpiiPCKhAccuracy")
    else:
        fix = (f"use type='MpiiPCKhAccuracy' (sadinet_mmpose) with "
               f'{source}, or MMPose\'s MpiiDataset with MpiiPCKAccuracy')
    return (f'{metric} expects {expects} MPII joints but {source} gives '
            f'{frame} ones: every prediction would be scored 1 px off in x '
            f'and in y. Fix the evaluator or the dataset: {fix}')


def _guarded_setter(expects: str):

    def setter(self, dataset_meta):
        msg = frame_mismatch(type(self).__name__, expects, dataset_meta)
        if msg:
            raise ValueError(msg)
        self._dataset_meta = copy.deepcopy(dataset_meta)

    return setter


def guarded_dataset_meta(expects: str) -> property:
    """``BaseMetric.dataset_meta`` that refuses metainfo of the other
    frame."""
    return property(BaseMetric.dataset_meta.fget, _guarded_setter(expects))


def install_stock_metric_guard() -> None:
    """Give MMPose's ``MpiiPCKAccuracy`` (not its subclasses that define
    their own) the check for the 1-based frame. Idempotent."""
    from mmpose.evaluation.metrics import MpiiPCKAccuracy
    if getattr(MpiiPCKAccuracy, '_frame_guarded', False):
        return
    MpiiPCKAccuracy.dataset_meta = guarded_dataset_meta('1-based')
    MpiiPCKAccuracy._frame_guarded = True
