"""Classes of keypoint errors, after Ronchi and Perona (ICCV 2017)."""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS

#: Error classes, in the order of their codes (0..4).
ERROR_CLASSES = ('good', 'jitter', 'inversion', 'swap', 'miss')
#: MPII's joint groups (the columns of its PCKh table).
MPII_GROUPS = (('Head', (8, 9)), ('Shoulder', (12, 13)), ('Elbow', (11, 14)),
               ('Wrist', (10, 15)), ('Hip', (2, 3)), ('Knee', (1, 4)),
               ('Ankle', (0, 5)))


def classify_errors(pred: np.ndarray,
                    gt: np.ndarray,
                    visible: np.ndarray,
                    norm: np.ndarray,
                    image: Sequence,
                    flip_indices: Sequence,
                    good_thr: float = 0.25,
                    near_thr: float = 0.5) -> np.ndarray:
    """Classify every visible joint's prediction.

    With ``d(a, b)`` the distance over the normaliser (head size) of the
    person ``b`` belongs to, a visible joint ``k`` of person ``n`` is:

    * ``good`` (0): ``d(pred, gt[n, k]) < good_thr``;
    * ``jitter`` (1): ``d(pred, gt[n, k]) < near_thr`` (otherwise);
    * ``inversion`` (2): near (``< near_thr``) the same person's mirror
      joint ``gt[n, flip_indices[k]]``;
    * ``swap`` (3): near the same joint ``k`` of another person of the same
      image (in that person's normaliser);
    * ``miss`` (4): none of these.

    Args:
        pred (np.ndarray): Predictions, (N, K, 2).
        gt (np.ndarray): Ground truth, (N, K, 2).
        visible (np.ndarray): Labelled joints, (N, K) bool.
        norm (np.ndarray): Normaliser per person (head size), (N,).
        image (Sequence): An image key per person (persons with the same key
            share an image), length N.
        flip_indices (Sequence[int]): The mirror joint of each joint (K,).
        good_thr (float): Radius of ``good``, in normaliser units.
            Defaults to 0.25.
        near_thr (float): Radius of ``jitter``, ``inversion`` and ``swap``.
            Defaults to 0.5.

    Returns:
        np.ndarray: (N, K) int codes into :data:`ERROR_CLASSES`; -1 where the
        joint is not labelled.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    norm = np.asarray(norm, dtype=np.float64).reshape(-1)
    n, k = visible.shape
    flip = np.asarray(flip_indices, dtype=int)
    own = np.linalg.norm(pred - gt, axis=-1) / norm[:, None]
    mirror = np.linalg.norm(pred - gt[:, flip], axis=-1) / norm[:, None]
    mirror_ok = visible[:, flip] & (flip != np.arange(k))[None]
    swap = np.full((n, k), np.inf)
    members = defaultdict(list)
    for i, key in enumerate(image):
        members[key].append(i)
    for idx in members.values():
        for i in idx:
            for j in idx:
                if i == j:
                    continue
                d = np.linalg.norm(pred[i] - gt[j], axis=-1) / norm[j]
                d[~visible[j]] = np.inf
                swap[i] = np.minimum(swap[i], d)
    codes = np.full((n, k), 4, dtype=np.int64)
    codes[swap < near_thr] = 3
    codes[mirror_ok & (mirror < near_thr)] = 2
    codes[own < near_thr] = 1
    codes[own < good_thr] = 0
    codes[~visible] = -1
    return codes


def load_tags(tag_file: str, num_records: Optional[int] = None) -> dict:
    """Read a ``tags.json`` of per-joint difficulty tags.

    Args:
        tag_file (str): The file (``{"names": [...], "tags": {name: (N, K)
            lists}}``).
        num_records (int, optional): The records it must cover. Defaults to
            None.

    Returns:
        dict: ``{name: (N, K) bool array}``.
    """
    if not osp.isfile(tag_file):
        raise FileNotFoundError(
            f'KeypointErrorTaxonomy: tag_file {tag_file!r} does not exist '
            "(a 'hard' synthetic split writes one as <split>/tags.json)")
    try:
        with open(tag_file) as f:
            doc = json.load(f)
    except ValueError as e:
        raise ValueError(f'{tag_file}: not a JSON tag file ({e})') from e
    if not isinstance(doc, dict) or not isinstance(doc.get('tags'), dict):
        raise ValueError(f"{tag_file}: expected the key 'tags' holding "
                         '{name: per-record lists of per-joint flags}')
    out = {}
    for name, rows in doc['tags'].items():
        arr = np.asarray(rows, dtype=bool)
        if arr.ndim != 2:
            raise ValueError(f"{tag_file}: tags['{name}'] has shape "
                             f'{arr.shape}, expected (records, joints)')
        if num_records is not None and arr.shape[0] < num_records:
            raise ValueError(f"{tag_file}: tags['{name}'] has {arr.shape[0]}"
                             f' records, expected at least {num_records}')
        out[name] = arr
    return out


@METRICS.register_module()
class KeypointErrorTaxonomy(BaseMetric):
    """Share of good, jitter, inversion, swap and miss predictions.

    The classes of Ronchi and Perona, "Benchmarking and Error Diagnosis in
    Multi-Instance Pose Estimation" (ICCV 2017), with distances in head
    sizes (:func:`classify_errors`). Their ``good`` and ``jitter`` are
    keypoint-similarity bands of 0.85 and 0.5, whose radii stand at 0.48 to
    1; here ``jitter``'s radius is PCKh@0.5's (``near_thr=0.5``), so that
    ``good + jitter`` is PCKh@0.5 over every labelled joint (MPII's mean
    leaves pelvis and thorax out), and ``good``'s is about half of it
    (``good_thr=0.25``). An inversion or a swap is a prediction within
    that same radius of the wrong joint. The other persons of an image are
    those of the evaluated data whose ``img_path`` (else ``img_id``) is the
    same, as COCO's analysis groups them.

    Keys (percent of the visible joints; prefix ``taxonomy``): ``good``,
    ``jitter``, ``inversion``, ``swap``, ``miss``, ``joints``;
    ``<group> <class>`` per MPII joint group when the data have 16 joints;
    with a ``tag_file``, ``PCKh@0.5 <tag>`` and ``<tag> <class>`` for each
    tag, ``PCKh@0.5 untagged``, and the joint count of each.

    Args:
        good_thr (float): Radius of ``good`` in head sizes. Defaults to
            0.25.
        near_thr (float): Radius of ``jitter``, ``inversion`` and ``swap``.
            Defaults to 0.5.
        norm_item (str): 'head' (``gt_instances.head_size``, as MPII
            datasets with a head-box file give it) or 'bbox' (the longer side
            of ``gt_instances.bboxes`` times ``bbox_ratio``). Defaults to
            'head'.
        bbox_ratio (float): Head size over the box's longer side for
            ``norm_item='bbox'``: 0.1 is the median on the synthetic
            ``standard`` tier. Defaults to 0.1.
        tag_file (str, optional): Per-joint difficulty tags of the records,
            indexed by the data sample's ``id`` (:func:`load_tags`).
            Defaults to None.
        out_file (str, optional): Write the (N, K) codes, rows in ``id``
            order, to this JSON. Defaults to None.
        collect_device (str): As mmengine's metrics. Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to None ('taxonomy').
    """

    default_prefix: Optional[str] = 'taxonomy'

    def __init__(self,
                 good_thr: float = 0.25,
                 near_thr: float = 0.5,
                 norm_item: str = 'head',
                 bbox_ratio: float = 0.1,
                 tag_file: Optional[str] = None,
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < good_thr <= near_thr:
            raise ValueError('KeypointErrorTaxonomy: need 0 < good_thr <= '
                             f'near_thr, got {good_thr} and {near_thr}')
        if norm_item not in ('head', 'bbox'):
            raise ValueError("KeypointErrorTaxonomy: norm_item must be "
                             f"'head' or 'bbox', got {norm_item!r}")
        self.good_thr, self.near_thr = good_thr, near_thr
        self.norm_item, self.bbox_ratio = norm_item, bbox_ratio
        self.tag_file, self.out_file = tag_file, out_file
        self.tags = load_tags(tag_file) if tag_file else None

    def _norm(self, ds: dict) -> float:
        gt = ds['gt_instances']
        if self.norm_item == 'head':
            if 'head_size' not in gt:
                raise KeyError(
                    "KeypointErrorTaxonomy: gt_instances has no 'head_size' "
                    f"(sample {ds.get('img_path', ds.get('img_id'))!r}); "
                    "give the dataset a head-box file or use "
                    "norm_item='bbox'")
            return float(np.asarray(gt['head_size']).reshape(-1)[0])
        if 'bboxes' not in gt:
            raise KeyError("KeypointErrorTaxonomy: gt_instances has no "
                           "'bboxes' for norm_item='bbox'")
        box = np.asarray(gt['bboxes'], dtype=np.float64).reshape(-1)
        return float(max(box[2] - box[0], box[3] - box[1])) * self.bbox_ratio

    def process(self, data_batch: Sequence[dict],
                data_samples: Sequence[dict]) -> None:
        """Keep prediction, ground truth, normaliser and image per person."""
        for ds in data_samples:
            gt = ds['gt_instances']
            kpt = np.asarray(gt['keypoints'], dtype=np.float64)[0, :, :2]
            vis = np.asarray(gt['keypoints_visible']).reshape(-1) > 0
            pred = np.asarray(
                ds['pred_instances']['keypoints'], dtype=np.float64)[0, :, :2]
            self.results.append(
                dict(
                    pred=pred,
                    gt=kpt,
                    vis=vis,
                    norm=self._norm(ds),
                    image=ds.get('img_path', ds.get('img_id')),
                    id=int(ds.get('id', len(self.results)))))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """The shares of each class, per group and per tag."""
        results = sorted(results, key=lambda r: r['id'])
        flip = self.dataset_meta['flip_indices']
        codes = classify_errors(
            np.stack([r['pred'] for r in results]),
            np.stack([r['gt'] for r in results]),
            np.stack([r['vis'] for r in results]),
            np.array([r['norm'] for r in results]),
            [r['image'] for r in results], flip, self.good_thr, self.near_thr)
        vis = codes >= 0
        out = self._shares('', codes[vis])
        if codes.shape[1] == 16:
            for name, idx in MPII_GROUPS:
                sel = np.zeros_like(vis)
                sel[:, list(idx)] = True
                out.update(self._shares(f'{name} ', codes[vis & sel]))
        if self.tags is not None:
            ids = np.array([r['id'] for r in results])
            any_tag = np.zeros_like(vis)
            for name, arr in self.tags.items():
                if ids.max() >= arr.shape[0]:
                    raise ValueError(
                        f"{self.tag_file}: tags['{name}'] has {arr.shape[0]}"
                        f' records, but the data have id {ids.max()}')
                t = arr[ids][:, :codes.shape[1]] & vis
                any_tag |= t
                out[f'PCKh@0.5 {name}'] = _pckh(codes[t])
                out[f'{name} joints'] = int(t.sum())
                out.update(self._shares(f'{name} ', codes[t], count=False))
            plain = vis & ~any_tag
            out['PCKh@0.5 untagged'] = _pckh(codes[plain])
            out['untagged joints'] = int(plain.sum())
        if self.out_file:
            with open(self.out_file, 'w') as f:
                json.dump(
                    dict(classes=list(ERROR_CLASSES), codes=codes.tolist()), f)
        return out

    @staticmethod
    def _shares(label: str, codes: np.ndarray, count: bool = True) -> dict:
        n = len(codes)
        out = {
            f'{label}{c}':
            (100. * float(np.sum(codes == i)) / n if n else float('nan'))
            for i, c in enumerate(ERROR_CLASSES)
        }
        if count and not label:
            out['joints'] = int(n)
        return out


def _pckh(codes: np.ndarray) -> float:
    """PCKh@0.5 of classified joints: good or jitter."""
    return (100. * float(np.sum(codes <= 1)) /
            len(codes) if len(codes) else float('nan'))
