"""Conversion of the original LSP / LSPET releases to the project's LSP JSON.

The two releases store their joints differently (see ``docs/data.md``):

* LSP (``lsp_dataset/joints.mat``, Johnson & Everingham, BMVC 2010): array
  ``joints`` of shape (3, 14, 2000): rows x, y, flag. The flag is 1 for an
  *occluded* joint and 0 for a visible one (the README calls it a
  "visibility" value, but the released values are inverted; the standard
  tools -- the CPM and pose-hg data scripts -- read it as ``1 - flag``).
  Every joint, occluded or not, has an annotated position. The standard
  split: images 1-1000 train, 1001-2000 test.
* LSPET (``lspet_dataset/joints.mat``, CVPR 2011): array ``joints`` of shape
  (14, 3, 10000): columns x, y, flag with flag 1 = visible, 0 = not visible
  (the positions of non-visible joints are not reliable). All training.

Output JSON (one file per split)::

    {"info": {"format": "sadinet-lsp-v2", "num_keypoints": 14,
              "box_margin": 0.1, "source": "lsp", ...},
     "annotations": [{"image": "lsp_dataset/images/im0001.jpg",
                      "source": "lsp", "index": 0,
                      "joints": [[x, y] x 14], "joints_vis": [0/1 x 14],
                      "joints_occluded": [0/1 x 14],
                      "bbox": [x1, y1, x2, y2]}, ...]}

Coordinates: LSP and LSPET release their joints as MATLAB matrices (and
evaluate in MATLAB), so they are read as MATLAB's 1-based pixel
coordinates and converted once, here, to the 0-based pixels (pixel centres
at integers) that MMPose's pipelines, the models and the metric use. The
written JSON is therefore 0-based; ``sadinet-lsp-v1`` files, written before
this conversion, are refused by :class:`~sadinet_mmpose.datasets.LSPDataset`.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np

from .validation import SkippedRecords

LSP_NUM_KEYPOINTS = 14
JSON_FORMAT = 'sadinet-lsp-v2'
#: Formats that held LSP's 1-based coordinates unconverted.
ONE_BASED_FORMATS = ('sadinet-lsp-v1', )


def load_joints_mat(path: str) -> np.ndarray:
    """Load the ``joints`` array of a ``joints.mat`` file.

    Args:
        path (str): The ``.mat`` file.

    Returns:
        np.ndarray: The raw array, as stored.
    """
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'joints file not found: {path!r}')
    try:
        mat = loadmat(path)
    except Exception as e:  # scipy raises several types for bad files
        raise ValueError(f'{path}: not a readable MATLAB file ({e})') from e
    if 'joints' not in mat:
        keys = sorted(k for k in mat if not k.startswith('__'))
        raise KeyError(f"{path}: no 'joints' array (found {keys})")
    return np.asarray(mat['joints'], dtype=np.float64)


def lsp_joints_to_keypoints(joints: np.ndarray,
                            occluded_as_labelled: bool = True,
                            source: str = 'joints.mat'
                            ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the original LSP layout (3, 14, N), flag 1 = occluded.

    Args:
        joints (np.ndarray): The raw array of shape (3, 14, N).
        occluded_as_labelled (bool): Keep occluded joints as labels
            (``joints_vis=1``; they carry annotated positions, and the
            standard LSP PCK scores every joint). If False, occluded joints
            get ``joints_vis=0``. Defaults to True.
        source (str): File name for error messages. Defaults to
            'joints.mat'.

    Returns:
        tuple: ``keypoints (N, 14, 2)`` in 0-based pixels, ``joints_vis
        (N, 14)``, ``occluded (N, 14)`` (int arrays for the flags).
    """
    if joints.ndim != 3 or joints.shape[:2] != (3, LSP_NUM_KEYPOINTS):
        hint = (' This is the LSPET layout (14, 3, N): pass it as the LSPET '
                'release.' if joints.shape[:2] == (LSP_NUM_KEYPOINTS,
                                                   3) else '')
        raise ValueError(f'{source}: LSP joints must have shape (3, 14, N), '
                         f'got {joints.shape}.{hint}')
    # (N, 14, 2), MATLAB's 1-based pixels to 0-based
    keypoints = np.transpose(joints[:2], (2, 1, 0)) - 1.
    occluded = (np.transpose(joints[2], (1, 0)) > 0.5).astype(np.int64)
    vis = (np.ones_like(occluded) if occluded_as_labelled else 1 - occluded)
    return keypoints, vis, occluded


def lspet_joints_to_keypoints(joints: np.ndarray,
                              source: str = 'joints.mat'
                              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the LSPET layout (14, 3, N), flag 1 = visible.

    Args:
        joints (np.ndarray): The raw array of shape (14, 3, N).
        source (str): File name for error messages. Defaults to
            'joints.mat'.

    Returns:
        tuple: ``keypoints (N, 14, 2)`` in 0-based pixels, ``joints_vis
        (N, 14)``, ``occluded (N, 14)`` (``1 - joints_vis``).
    """
    if joints.ndim != 3 or joints.shape[:2] != (LSP_NUM_KEYPOINTS, 3):
        hint = (' This is the original LSP layout (3, 14, N): pass it as '
                'the LSP release.'
                if joints.shape[:2] == (3, LSP_NUM_KEYPOINTS) else '')
        raise ValueError(f'{source}: LSPET joints must have shape '
                         f'(14, 3, N), got {joints.shape}.{hint}')
    # (N, 14, 2), MATLAB's 1-based pixels to 0-based
    keypoints = np.transpose(joints[:, :2], (2, 0, 1)) - 1.
    vis = (np.transpose(joints[:, 2], (1, 0)) > 0.5).astype(np.int64)
    return keypoints, vis, 1 - vis


def box_from_joints(keypoints: np.ndarray,
                    visible: np.ndarray,
                    margin: float = 0.1) -> Optional[np.ndarray]:
    """Person box from the labelled joints, enlarged by a margin.

    The tight box of the labelled, finite joints is enlarged on every side
    by ``margin`` times its longer side (so 0.1 gives a box 1.2x the joint
    extent along the longer side). MMPose's ``GetBBoxCenterScale`` pads it
    by another 1.25 in the pipeline.

    Args:
        keypoints (np.ndarray): Joints, shape (K, 2).
        visible (np.ndarray): Labelled flags, shape (K,).
        margin (float): Fraction of the longer side added on each side.
            Defaults to 0.1.

    Returns:
        np.ndarray | None: ``[x1, y1, x2, y2]``, or None when no labelled
        finite joint exists or the box has zero size.
    """
    ok = (np.asarray(visible).reshape(-1) > 0) & np.isfinite(keypoints).all(-1)
    if not ok.any():
        return None
    pts = keypoints[ok]
    x1, y1 = pts.min(0)
    x2, y2 = pts.max(0)
    pad = margin * max(x2 - x1, y2 - y1)
    box = np.array([x1 - pad, y1 - pad, x2 + pad, y2 + pad], dtype=np.float64)
    if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
        return None
    return box


def make_records(keypoints: np.ndarray, vis: np.ndarray, occluded: np.ndarray,
                 image_names: List[str], source: str, indices, margin: float,
                 skipped: SkippedRecords) -> List[dict]:
    """Build JSON records for the given sample indices.

    Args:
        keypoints (np.ndarray): (N, 14, 2).
        vis (np.ndarray): (N, 14) labelled flags.
        occluded (np.ndarray): (N, 14) occlusion flags.
        image_names (list[str]): Image path per sample (relative to the data
            root), length N.
        source (str): 'lsp' or 'lspet'.
        indices (Iterable[int]): Which samples to convert.
        margin (float): Box margin, see :func:`box_from_joints`.
        skipped (SkippedRecords): Collects records that cannot be used.

    Returns:
        list[dict]: The records.
    """
    records = []
    for i in indices:
        kpt = keypoints[i].copy()
        v = vis[i].copy()
        bad = ~np.isfinite(kpt).all(-1)
        if np.any(bad & (v > 0)):
            skipped.add(i, 'NaN/inf coordinates of a labelled joint')
            continue
        kpt[bad] = 0.
        box = box_from_joints(kpt, v, margin)
        if box is None:
            skipped.add(i, 'no labelled joint or zero-size box')
            continue
        records.append(
            dict(
                image=image_names[i],
                source=source,
                index=int(i),
                joints=kpt.round(3).tolist(),
                joints_vis=v.astype(int).tolist(),
                joints_occluded=occluded[i].astype(int).tolist(),
                bbox=box.round(3).tolist()))
    return records


def _image_names(root_name: str, num: int, digits: int) -> List[str]:
    return [f'{root_name}/images/im{i + 1:0{digits}d}.jpg' for i in range(num)]


def _check_images(data_root: str, names: List[str], release: str) -> None:
    missing = [n for n in names if not osp.isfile(osp.join(data_root, n))]
    if missing:
        listed = ', '.join(missing[:5])
        raise FileNotFoundError(
            f'{release}: {len(missing)} of {len(names)} images are missing '
            f'under {data_root!r} (e.g. {listed}).')


def convert_lsp(data_root: str,
                lsp_dir: Optional[str] = 'lsp_dataset',
                lspet_dir: Optional[str] = 'lspet_dataset',
                margin: float = 0.1,
                occluded_as_labelled: bool = True,
                check_images: bool = True) -> Dict[str, dict]:
    """Convert the releases found under ``data_root`` to JSON documents.

    Args:
        data_root (str): Folder holding the unpacked releases.
        lsp_dir (str, optional): LSP folder name under ``data_root`` (with
            ``joints.mat`` and ``images/im0001.jpg`` ...), or None to skip.
            Defaults to 'lsp_dataset'.
        lspet_dir (str, optional): LSPET folder name (``joints.mat``,
            ``images/im00001.jpg`` ...), or None to skip. Defaults to
            'lspet_dataset'.
        margin (float): Box margin, see :func:`box_from_joints`. Defaults to
            0.1.
        occluded_as_labelled (bool): See :func:`lsp_joints_to_keypoints`.
            Defaults to True.
        check_images (bool): Fail if an image file is missing. Defaults to
            True.

    Returns:
        dict: split name (``lsp_train``, ``lsp_test``, ``lspet_train``) ->
        JSON document ``{'info': ..., 'annotations': [...]}``. Skipped records
        are listed in ``info['skipped']``.
    """
    out = {}
    if lsp_dir:
        path = osp.join(data_root, lsp_dir, 'joints.mat')
        kpts, vis, occ = lsp_joints_to_keypoints(
            load_joints_mat(path), occluded_as_labelled, path)
        n = kpts.shape[0]
        names = _image_names(lsp_dir, n, 4)
        if check_images:
            _check_images(data_root, names, 'LSP')
        # standard split: first half (im0001-im1000) train, second half test
        n_train = n // 2
        for split, idxs in (('lsp_train', range(0, n_train)),
                            ('lsp_test', range(n_train, n))):
            skipped = SkippedRecords(f'{path} ({split})')
            recs = make_records(kpts, vis, occ, names, 'lsp', idxs, margin,
                                skipped)
            skipped.warn()
            out[split] = _document(recs, 'lsp', split, margin,
                                   occluded_as_labelled, skipped)
    if lspet_dir:
        path = osp.join(data_root, lspet_dir, 'joints.mat')
        kpts, vis, occ = lspet_joints_to_keypoints(load_joints_mat(path), path)
        n = kpts.shape[0]
        names = _image_names(lspet_dir, n, 5)
        if check_images:
            _check_images(data_root, names, 'LSPET')
        skipped = SkippedRecords(f'{path} (lspet_train)')
        recs = make_records(kpts, vis, occ, names, 'lspet', range(n), margin,
                            skipped)
        skipped.warn()
        out['lspet_train'] = _document(recs, 'lspet', 'lspet_train', margin,
                                       occluded_as_labelled, skipped)
    if not out:
        raise ValueError('nothing to convert: neither an LSP nor an LSPET '
                         'folder was given')
    return out


def _document(records, source, split, margin, occluded_as_labelled,
              skipped: SkippedRecords) -> dict:
    return dict(
        info=dict(
            format=JSON_FORMAT,
            num_keypoints=LSP_NUM_KEYPOINTS,
            source=source,
            split=split,
            box_margin=margin,
            occluded_as_labelled=bool(occluded_as_labelled),
            skipped=skipped.as_dict()),
        annotations=records)


def write_documents(docs: Dict[str, dict], out_dir: str) -> List[str]:
    """Write each document to ``out_dir/<split>.json`` (atomically).

    Args:
        docs (dict): Output of :func:`convert_lsp`.
        out_dir (str): Destination folder (created if missing).

    Returns:
        list[str]: The written paths.
    """
    import json
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for split, doc in docs.items():
        path = osp.join(out_dir, f'{split}.json')
        tmp = f'{path}.tmp{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(doc, f)
        os.replace(tmp, path)
        paths.append(path)
    return paths
