"""How well does a keypoint's score tell a correct joint from a wrong one?"""
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

from .sigma_calibration import person_scale


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the binary ``labels``
    (the Mann-Whitney statistic, ties counted half); NaN without both
    classes."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    pos, neg = labels.sum(), (~labels).sum()
    if pos == 0 or neg == 0:
        return float('nan')
    order = np.argsort(scores, kind='mergesort')
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, start, counts = np.unique(
        sorted_scores, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2. + 1.
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.) / (pos * neg))


def within_auroc(scores: np.ndarray, labels: np.ndarray,
                 groups: np.ndarray) -> float:
    """Mean over ``groups`` (joint types) of the AUROC inside each group;
    groups with one class only are left out (NaN when all are)."""
    values = [
        auroc(scores[groups == g], labels[groups == g])
        for g in np.unique(groups)
    ]
    values = [v for v in values if v == v]
    return float(np.mean(values)) if values else float('nan')


def read_score(pred: dict, field: str) -> np.ndarray:
    """The per-joint score ``field`` of one prediction, (K,); a leading
    ``-`` negates it (for a scale, where smaller means surer); a field with
    a trailing axis (a sigma's x and y) is reduced by its geometric mean."""
    sign = -1. if field.startswith('-') else 1.
    name = field.lstrip('-')
    if name not in pred:
        raise KeyError(f'KeypointScoreAUROC: the predictions have no '
                       f'{name!r} (pred_instances holds {sorted(pred)}); '
                       'list only fields the model predicts in scores=')
    value = np.asarray(pred[name], np.float64)[0]
    if value.ndim == 2:
        value = np.exp(np.log(np.maximum(value, 1e-12)).mean(-1))
    return sign * value.reshape(-1)


@METRICS.register_module()
class KeypointScoreAUROC(BaseMetric):
    """AUROC of per-joint scores for "the joint is correct at PCKh@tau".

    A joint is correct when its error is below ``tau`` times the person's
    scale (the head size where the sample has one, else the box's longer
    side); every visible joint of every person counts once. Each score gets
    its AUROC with a percentile-bootstrap 95 % interval over persons, the
    mean AUROC within a joint type (which a score that only ranks joint
    types cannot raise above 0.5), and, for every score after the first, its
    paired-bootstrap difference from the first. With fewer than
    ``min_wrong`` wrong joints the comparison is reported as undecided.

    Args:
        thresholds (Sequence[float]): The taus. Defaults to (0.5, 0.1).
        scores (dict | Sequence[str], optional): label -> field of
            ``pred_instances`` (``'-keypoint_sigmas'`` ranks by a negated
            scale). Defaults to ``dict(score='keypoint_scores')``.
        num_bootstrap (int): Resamples of the persons. Defaults to 1000.
        min_wrong (int): Wrong joints below which no score is named better.
            Defaults to 30.
        seed (int): Seed of the resampling. Defaults to 0.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.

    Returns (``compute_metrics``), per tau and score label ``<s>``:
        dict: ``<s>_auroc@<tau>`` with ``<s>_auroc_low@<tau>`` and
        ``<s>_auroc_high@<tau>``, ``<s>_within_auroc@<tau>``, and for a
        later score ``<s>_auroc_diff@<tau>`` (minus the first score's) with
        its ``_low``/``_high``; once per tau ``score_correct@<tau>`` (percent
        of correct joints), ``score_wrong@<tau>`` (the count) and
        ``score_undecided@<tau>`` (1. below ``min_wrong``, else 0.).
    """

    def __init__(self,
                 thresholds: Sequence[float] = (0.5, 0.1),
                 scores: Optional[Union[dict, Sequence[str]]] = None,
                 num_bootstrap: int = 1000,
                 min_wrong: int = 30,
                 seed: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.thresholds = tuple(float(t) for t in thresholds)
        if scores is None:
            scores = dict(score='keypoint_scores')
        elif not isinstance(scores, dict):
            scores = {f.lstrip('-'): f for f in scores}
        if not scores:
            raise ValueError('KeypointScoreAUROC: scores= names no field')
        self.scores = dict(scores)
        self.num_bootstrap = int(num_bootstrap)
        self.min_wrong = int(min_wrong)
        self.seed = int(seed)

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred, gt = sample['pred_instances'], sample['gt_instances']
            vis = np.asarray(gt['keypoints_visible'])
            vis = vis[..., 0] if vis.ndim == 3 else vis
            err = np.linalg.norm(
                np.asarray(pred['keypoints'])[0, :, :2] -
                np.asarray(gt['keypoints'])[0, :, :2],
                axis=-1)
            self.results.append(
                dict(
                    scores={
                        s: read_score(pred, f)
                        for s, f in self.scores.items()
                    },
                    err=err / person_scale(gt),
                    visible=vis.reshape(-1) > 0))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        vis = np.concatenate([r['visible'] for r in results])
        err = np.concatenate([r['err'] for r in results])[vis]
        joint = np.concatenate([np.arange(len(r['visible']))
                                for r in results])[vis]
        person = np.concatenate([
            np.full(len(r['visible']), i) for i, r in enumerate(results)
        ])[vis]
        scores = {
            s: np.concatenate([r['scores'][s] for r in results])[vis]
            for s in self.scores
        }
        labels = list(scores)
        boot = self._bootstrap(err, person, len(results), scores)
        out = {}
        logger = MMLogger.get_current_instance()
        for tau in self.thresholds:
            correct = err < tau
            wrong = int((~correct).sum())
            out[f'score_correct@{tau:g}'] = 100. * float(correct.mean())
            out[f'score_wrong@{tau:g}'] = float(wrong)
            out[f'score_undecided@{tau:g}'] = float(wrong < self.min_wrong)
            for s in labels:
                key = f'{s}_auroc'
                out[f'{key}@{tau:g}'] = auroc(scores[s], correct)
                lo, hi = _interval(boot[tau, s])
                out[f'{key}_low@{tau:g}'], out[f'{key}_high@{tau:g}'] = lo, hi
                out[f'{s}_within_auroc@{tau:g}'] = within_auroc(
                    scores[s], correct, joint)
            ref = labels[0]
            for s in labels[1:]:
                key = f'{s}_auroc_diff'
                out[f'{key}@{tau:g}'] = (
                    out[f'{s}_auroc@{tau:g}'] - out[f'{ref}_auroc@{tau:g}'])
                lo, hi = _interval(boot[tau, s] - boot[tau, ref])
                out[f'{key}_low@{tau:g}'], out[f'{key}_high@{tau:g}'] = lo, hi
                if wrong < self.min_wrong:
                    verdict = (f'undecided: {wrong} wrong joints at '
                               f'PCKh@{tau:g}, fewer than {self.min_wrong}')
                elif lo > 0 or hi < 0:
                    verdict = (f'{s if lo > 0 else ref} ranks better '
                               f'(difference {lo:+.3f} to {hi:+.3f})')
                else:
                    verdict = (f'no difference shown (interval {lo:+.3f} '
                               f'to {hi:+.3f})')
                logger.info(f'KeypointScoreAUROC@{tau:g}: {s} against {ref}: '
                            f'{verdict}')
        return out

    def _bootstrap(self, err, person, num_persons, scores) -> dict:
        """(tau, label) -> the AUROCs over ``num_bootstrap`` resamples of
        the persons (each drawn person brings all its joints; the same
        draws for every score, so differences are paired)."""
        rng = np.random.default_rng(self.seed)
        sizes = np.bincount(person, minlength=num_persons)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        boot = {
            (tau, s): np.empty(self.num_bootstrap)
            for tau in self.thresholds
            for s in scores
        }
        for b in range(self.num_bootstrap):
            chosen = rng.integers(0, num_persons, num_persons)
            n = sizes[chosen]
            ends = np.cumsum(n)
            idx = np.arange(ends[-1] if len(ends) else 0) + np.repeat(
                starts[chosen] - ends + n, n)
            for tau in self.thresholds:
                correct = err[idx] < tau
                for s, value in scores.items():
                    boot[tau, s][b] = auroc(value[idx], correct)
        return boot


def _interval(values: np.ndarray):
    """The 2.5 and 97.5 percentiles of the finite ``values`` (NaNs when
    none is finite)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return float('nan'), float('nan')
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)
