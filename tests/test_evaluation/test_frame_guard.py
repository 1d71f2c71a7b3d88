"""The MPII frame guard: a 0-based dataset of the project with MMPose's
``MpiiPCKAccuracy``, or MMPose's ``MpiiDataset`` with ``MpiiPCKhAccuracy``,
stops when the runner hands the metainfo over, before any iteration."""
import pytest

from tiny_configs import sadinet_tiny_config

import sadinet_mmpose  # noqa: F401  isort: skip


def _metainfo(cls):
    return cls._load_metainfo(None)


def test_each_metric_takes_its_own_frame_and_refuses_the_other():
    from mmpose.datasets import MpiiDataset
    from mmpose.evaluation.metrics import MpiiPCKAccuracy

    from sadinet_mmpose.datasets import SafeMpiiDataset, SyntheticMpiiDataset
    from sadinet_mmpose.evaluation import MpiiPCKhAccuracy
    stock, ours = _metainfo(MpiiDataset), _metainfo(SafeMpiiDataset)
    assert 'keypoint_frame' not in stock
    assert ours['keypoint_frame'] == '0-based'
    assert _metainfo(SyntheticMpiiDataset)['keypoint_frame_source'] == \
        'SyntheticMpiiDataset'
    MpiiPCKAccuracy().dataset_meta = stock
    MpiiPCKhAccuracy().dataset_meta = ours
    with pytest.raises(ValueError) as err:
        MpiiPCKAccuracy().dataset_meta = ours
    for part in ('MpiiPCKAccuracy', 'SafeMpiiDataset', '1 px',
                 "type='MpiiPCKhAccuracy'"):
        assert part in str(err.value)
    with pytest.raises(ValueError) as err:
        MpiiPCKhAccuracy().dataset_meta = stock
    for part in ('MpiiPCKhAccuracy', "MMPose's MpiiDataset", '1 px',
                 'SafeMpiiDataset with MpiiPCKhAccuracy'):
        assert part in str(err.value)
    # metainfo of another dataset (COCO, LSP) passes either way
    MpiiPCKhAccuracy().dataset_meta = dict(dataset_name='lsp')
    MpiiPCKAccuracy().dataset_meta = None


@pytest.mark.parametrize('dataset,metric,refused',
                         [('SafeMpiiDataset', 'MpiiPCKAccuracy', True),
                          ('MpiiDataset', 'MpiiPCKhAccuracy', True),
                          ('SafeMpiiDataset', 'MpiiPCKhAccuracy', False)])
def test_runner_stops_before_training(dataset, metric, refused, tmp_path,
                                      mpii_sample_dir, monkeypatch):
    from mmengine.config import Config
    from mmengine.runner import Runner
    text = sadinet_tiny_config(mpii_sample_dir, max_epochs=1)
    for old, new in (("dataset_type = 'MpiiDataset'",
                      f"dataset_type = '{dataset}'"),
                     ("type='PCKAccuracy', thr=0.2", f"type='{metric}'")):
        assert old in text, f'tiny config changed: {old!r} not found'
        text = text.replace(old, new, 1)
    path = tmp_path / 'frame.py'
    path.write_text(text)
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work')

    import mmengine.runner.loops as loops
    ran = []
    monkeypatch.setattr(loops.EpochBasedTrainLoop, 'run',
                        lambda self: ran.append(self))
    runner = Runner.from_cfg(cfg)
    if refused:
        with pytest.raises(ValueError, match='1 px off'):
            runner.train()
        assert not ran
    else:
        runner.train()
        assert ran
