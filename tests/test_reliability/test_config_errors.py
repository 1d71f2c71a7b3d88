"""A config with an unknown module or option fails before training starts.

Each case edits the tiny SADI-Net config and drives mmengine's ``Runner``:
the model's parts are checked by ``check_module_cfg`` (through
``MSTopdownPoseEstimator``) while the runner is built, with the dotted place
in the config; datasets, transforms, metrics and hooks are reported by
mmengine's registry or the class constructor, which name the type or option
but not its place in the config (recorded in docs/reliability.md).
"""
import pytest

from tiny_configs import sadinet_tiny_config

import sadinet_mmpose  # noqa: F401  isort: skip

GOOD_LOSS = "loss=dict(type='ChiWeightedLoss')"
GOOD_METRIC = "type='PCKAccuracy', thr=0.2"

#: case -> (old text, new text, exception, expected substrings)
CASES = {
    'model_unknown_type': (GOOD_LOSS, "loss=dict(type='ChiWeightedLos')",
                           KeyError, [
                               "model.head.loss.type='ChiWeightedLos'",
                               "did you mean 'ChiWeightedLoss'"
                           ]),
    'model_unknown_option':
    (GOOD_LOSS, "loss=dict(type='ChiWeightedLoss', weightng='chi')", TypeError,
     ['model.head.loss.weightng', "did you mean 'weighting'"]),
    'backbone_unknown_option':
    ('feat_channel=16,', 'feat_channels=16,', TypeError,
     ['model.backbone.feat_channels', 'RFMHourglass']),
    'dataset_unknown_type':
    ("dataset_type = 'MpiiDataset'", "dataset_type = 'MpiiDatasett'", KeyError,
     ['MpiiDatasett is not in the mmpose::dataset registry']),
    'dataset_unknown_option':
    ('data_mode=data_mode,', "data_mode=data_mode, ann_fle='x',", TypeError,
     ['MpiiDataset', "unexpected keyword argument 'ann_fle'"]),
    'transform_unknown_type':
    ("dict(type='RandomFlip', direction='horizontal')",
     "dict(type='RandomFlipp', direction='horizontal')", KeyError,
     ['RandomFlipp is not in the mmpose::transform registry']),
    'metric_unknown_type':
    (GOOD_METRIC, "type='PCKAcuracy', thr=0.2", KeyError,
     ['PCKAcuracy is not in the mmpose::metric registry']),
    'metric_unknown_option':
    (GOOD_METRIC, "type='PCKAccuracy', thrr=0.2", TypeError,
     ['PCKAccuracy', "unexpected keyword argument 'thrr'"]),
    'hook_unknown_type': ("dict(type='RNGStateHook')",
                          "dict(type='RNGStateHok')", KeyError,
                          ['RNGStateHok is not in the mmpose::hook registry']),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_config_fails_before_training_and_names_it(case, tmp_path,
                                                       mpii_sample_dir,
                                                       monkeypatch):
    from mmengine.config import Config
    from mmengine.runner import Runner

    old, new, exc, expected = CASES[case]
    text = sadinet_tiny_config(mpii_sample_dir, max_epochs=1)
    assert old in text, f'{case}: tiny config changed, {old!r} not found'
    path = tmp_path / f'{case}.py'
    path.write_text(text.replace(old, new, 1))
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work')

    import mmengine.runner.loops as loops
    ran = []
    monkeypatch.setattr(loops.EpochBasedTrainLoop, 'run',
                        lambda self: ran.append(self))
    with pytest.raises(exc) as err:
        Runner.from_cfg(cfg).train()
    msg = str(err.value)
    for part in expected:
        assert part in msg, f'{case}: the error should contain {part!r}: {msg}'
    assert not ran, f'{case}: training started although the config is wrong'
