"""KeypointScoreAUROC on scores whose discrimination is known."""
import numpy as np
import pytest

from sadinet_mmpose.evaluation import KeypointScoreAUROC
from sadinet_mmpose.evaluation.metrics.score_auroc import auroc


def test_auroc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 300).astype(float)  # many ties
    labels = rng.random(300) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairs = (pos[:, None] > neg[None]).mean() + \
        0.5 * (pos[:, None] == neg[None]).mean()
    assert auroc(scores, labels) == pytest.approx(pairs)
    assert auroc(np.arange(10.), np.arange(10) >= 5) == 1.
    assert auroc(-np.arange(10.), np.arange(10) >= 5) == 0.
    assert np.isnan(auroc(np.ones(4), np.ones(4, bool)))


def test_metric_scores_against_pckh_correctness():
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(200):
        head = rng.uniform(5, 40)
        gt = rng.uniform(0, 300, (16, 2))
        err = rng.uniform(0, 1, 16) * head
        pred = gt + err[:, None] * np.array([0.6, 0.8])
        samples.append(
            dict(
                pred_instances=dict(
                    keypoints=pred[None], keypoint_scores=(-err / head)[None]),
                gt_instances=dict(
                    keypoints=gt[None],
                    keypoints_visible=np.ones((1, 16)),
                    head_size=np.array([head]))))
    metric = KeypointScoreAUROC()
    metric.process([], samples)
    out = metric.compute_metrics(metric.results)
    # a score that decreases with the normalised error ranks perfectly
    assert out['score_auroc@0.5'] == 1. and out['score_auroc@0.1'] == 1.
    assert out['score_correct@0.5'] == pytest.approx(50, abs=6)


def _samples(rng, n, joint_rate=None):
    """``n`` persons of 16 joints; errors in head sizes drawn per joint
    type (``joint_rate``: each type's chance of a large error)."""
    rate = np.linspace(0.05, 0.6, 16) if joint_rate is None else joint_rate
    out = []
    for _ in range(n):
        head = 20.
        gt = rng.uniform(0, 300, (16, 2))
        wrong = rng.random(16) < rate
        err = np.where(wrong, rng.uniform(0.6, 2., 16),
                       rng.uniform(0., 0.3, 16))
        pred = gt + err[:, None] * head * np.array([0.6, 0.8])
        out.append(
            dict(
                pred_instances=dict(
                    keypoints=pred[None],
                    # knows each joint: its error plus a little noise
                    keypoint_scores=(-err + rng.normal(0, 0.3, 16))[None],
                    # knows only the joint type's rate
                    type_score=(-rate)[None],
                    keypoint_sigmas=np.stack([rate, 4 * rate], -1)[None]),
                gt_instances=dict(
                    keypoints=gt[None],
                    keypoints_visible=np.ones((1, 16)),
                    head_size=np.array([head]))))
    return out


def test_intervals_within_type_and_paired_difference():
    rng = np.random.default_rng(2)
    metric = KeypointScoreAUROC(
        thresholds=(0.5, ),
        num_bootstrap=200,
        scores=dict(
            type='type_score',
            score='keypoint_scores',
            sigma='-keypoint_sigmas'))
    metric.process([], _samples(rng, 150))
    out = metric.compute_metrics(metric.results)
    for s in ('type', 'score', 'sigma'):
        assert out[f'{s}_auroc_low@0.5'] <= out[f'{s}_auroc@0.5'] <= \
            out[f'{s}_auroc_high@0.5']
    # a score made of the joint type alone ranks types, not joints
    assert out['type_auroc@0.5'] > 0.6
    assert out['type_within_auroc@0.5'] == 0.5
    # the negated sigma carries the same ranking as the type's rate
    assert out['sigma_auroc@0.5'] == pytest.approx(out['type_auroc@0.5'])
    assert out['score_within_auroc@0.5'] > 0.8
    # the per-joint score beats the per-type one, paired over persons
    assert out['score_auroc_diff_low@0.5'] > 0
    assert out['score_wrong@0.5'] >= 30 and out['score_undecided@0.5'] == 0.


def test_few_wrong_joints_leave_the_comparison_undecided():
    rng = np.random.default_rng(3)
    metric = KeypointScoreAUROC(
        thresholds=(0.5, ),
        num_bootstrap=50,
        scores=dict(type='type_score', score='keypoint_scores'))
    metric.process([], _samples(rng, 20, joint_rate=np.full(16, 0.02)))
    out = metric.compute_metrics(metric.results)
    assert out['score_wrong@0.5'] < 30
    assert out['score_undecided@0.5'] == 1.


def test_unknown_score_field_is_named():
    rng = np.random.default_rng(4)
    metric = KeypointScoreAUROC(scores=['keypoint_probability'])
    with pytest.raises(KeyError, match='keypoint_probability'):
        metric.process([], _samples(rng, 1))
