"""MMPose's ``split_instances`` (the inferencer's output) keeps the sigmas."""
import subprocess
import sys
import textwrap

import numpy as np
import torch
from mmengine.structures import InstanceData  # noqa: E402

from sadinet_mmpose.compat.inferencer_sigmas import (  # noqa: E402
    PATCHED_MODULES, with_sigma_fields)

import sadinet_mmpose  # noqa: F401  isort: skip


def _instances(n=2, k=3, **extra):
    return InstanceData(
        keypoints=np.arange(n * k * 2, dtype=np.float32).reshape(n, k, 2),
        keypoint_scores=np.full((n, k), .5, np.float32),
        bboxes=np.tile(np.array([[0., 0., 10., 20.]]), (n, 1)),
        **extra)


def _upstream():
    from mmpose.structures.utils import split_instances
    return split_instances


def test_the_sigma_fields_are_added_per_instance():
    sig = np.random.RandomState(0).rand(2, 3, 2).astype(np.float32)
    dof = np.full((2, 3), 6., np.float32)
    people = with_sigma_fields(_upstream())(
        _instances(
            keypoint_sigmas=torch.from_numpy(sig),
            keypoint_sigma_dof=dof,
            sigma_calibrated=np.array([True, False])))
    assert [p['sigma_calibrated'] for p in people] == [True, False]
    for i, person in enumerate(people):
        np.testing.assert_allclose(person['keypoint_sigmas'], sig[i])
        assert person['keypoint_sigma_dof'] == [6., 6., 6.]
        assert isinstance(person['sigma_calibrated'], bool)


def test_a_gaussian_sigma_has_no_dof():
    (person, ) = with_sigma_fields(_upstream())(
        _instances(
            n=1,
            keypoint_sigmas=np.ones((1, 3, 2)),
            sigma_calibrated=np.array([False])))
    assert person['keypoint_sigma_dof'] is None
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    (rec, ) = OnnxPoseEstimator.person_records(
        dict(
            keypoints=np.zeros((1, 3, 2)),
            scores=np.ones((1, 3)),
            sigmas=np.ones((1, 3, 2)),
            sigma_dof=None,
            sigma_calibrated=False))
    assert rec.keys() == person.keys() - {'bbox'}
    assert rec['keypoint_sigma_dof'] is None


def test_other_heads_predictions_are_unchanged():
    inst = _instances()
    assert with_sigma_fields(_upstream())(inst) == _upstream()(inst)
    assert with_sigma_fields(_upstream())(None) == []


def test_wrapping_is_idempotent():
    once = with_sigma_fields(_upstream())
    assert with_sigma_fields(once) is once


def test_patched_where_the_inferencer_calls_it_in_either_import_order():
    """Inferencer imported before the plugin (a config's custom_imports) or
    after it (the hook): both bindings are wrapped."""
    inferencer = 'import mmpose.apis.inferencers.base_mmpose_inferencer\n'
    plugin = 'import sadinet_mmpose\n'
    for first in (inferencer + plugin, plugin + inferencer):
        code = first + textwrap.dedent(f'''
            import importlib
            for name in {PATCHED_MODULES!r}:
                fn = importlib.import_module(name).split_instances
                assert getattr(fn, 'sadinet_compat', False), name
                assert not getattr(fn.__wrapped__, 'sadinet_compat', False)
            print('PATCHED')
        ''')
        proc = subprocess.run([sys.executable, '-c', code],
                              capture_output=True,
                              text=True,
                              timeout=300)
        assert 'PATCHED' in proc.stdout, proc.stdout + proc.stderr
