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
        samples.append(dict(
            pred_instances=dict(keypoints=pred[None],
                                keypoint_scores=(-err / head)[None]),
            gt_instances=dict(keypoints=gt[None],
                              keypoints_visible=np.ones((1, 16)),
                              head_size=np.array([head]))))
    metric = KeypointScoreAUROC()
    metric.process([], samples)
    out = metric.compute_metrics(metric.results)
    # a score that decreases with the normalised error ranks perfectly
    assert out['score_auroc@0.5'] == 1. and out['score_auroc@0.1'] == 1.
    assert out['score_correct@0.5'] == pytest.approx(50, abs=6)
