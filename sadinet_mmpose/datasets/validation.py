"""Checks of annotation records shared by the project's datasets.

Policy (also tabulated in ``docs/data.md``):

* structural problems (a missing annotation or head-box file, a record with
  the wrong number of joints, a head-box file whose length does not match the
  annotations, a split with no usable record) raise an error that names the
  file and, where there is one, the record;
* problems of a single record (NaN or infinite coordinates of a labelled
  joint, a zero-size or non-finite box, no labelled joint) skip that record
  and are reported once per file as a :class:`BadAnnotationWarning` with the
  count per reason and the first few record indices.
"""
import os.path as osp
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional

import numpy as np


class BadAnnotationWarning(UserWarning):
    """Warning category for annotation records skipped while loading."""


class SkippedRecords:
    """Counts skipped records per reason and reports them in one warning.

    Args:
        source (str): The annotation file the records come from (named in
            the warning).
        max_listed (int): How many record indices to list per reason.
            Defaults to 5.
    """

    def __init__(self, source: str, max_listed: int = 5):
        self.source = source
        self.max_listed = max_listed
        self.reasons: Dict[str, List[int]] = OrderedDict()

    def add(self, index: int, reason: str) -> None:
        """Record that record ``index`` was skipped for ``reason``."""
        self.reasons.setdefault(reason, []).append(int(index))

    @property
    def count(self) -> int:
        """int: The number of skipped records (all reasons)."""
        return sum(len(v) for v in self.reasons.values())

    @property
    def indices(self) -> List[int]:
        """list[int]: Sorted indices of all skipped records."""
        return sorted(i for v in self.reasons.values() for i in v)

    def as_dict(self) -> Dict[str, List[int]]:
        """dict: reason -> list of skipped record indices."""
        return {k: list(v) for k, v in self.reasons.items()}

    def warn(self) -> None:
        """Emit one :class:`BadAnnotationWarning` if anything was skipped."""
        if not self.reasons:
            return
        parts = []
        for reason, idxs in self.reasons.items():
            listed = ', '.join(str(i) for i in idxs[:self.max_listed])
            more = ', ...' if len(idxs) > self.max_listed else ''
            parts.append(f'{len(idxs)} x {reason} (records {listed}{more})')
        warnings.warn(
            f'{self.source}: skipped {self.count} annotation record(s): ' +
            '; '.join(parts), BadAnnotationWarning)


def require_file(path: Optional[str], what: str) -> str:
    """Raise a clear ``FileNotFoundError`` if ``path`` is not a file.

    Args:
        path (str): The path to check.
        what (str): What the file is, for the message (e.g. 'annotation
            file').

    Returns:
        str: ``path`` unchanged.
    """
    if not path or not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')
    return path


def load_json_annotations(path: Optional[str], what: str):
    """Read a JSON annotation file, or raise an error naming it.

    Args:
        path (str): The file (local, or any backend mmengine's
            ``get_local_path`` reads).
        what (str): What the file is, for the message.

    Returns:
        The parsed JSON document.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        ValueError: If it is not valid JSON (naming the file).
    """
    import json

    from mmengine.fileio import get_local_path
    require_file(path, what)
    with get_local_path(path) as local_path:
        try:
            with open(local_path) as f:
                return json.load(f)
        except ValueError as e:
            raise ValueError(f'{path}: not valid JSON ({e})') from e


def check_joint_count(joints: np.ndarray,
                      num_keypoints: int,
                      source: str,
                      index: int,
                      image: str = '') -> None:
    """Raise ``ValueError`` unless ``joints`` has shape (num_keypoints, 2).

    Args:
        joints (np.ndarray): The joint array of one record.
        num_keypoints (int): The number of joints the dataset expects.
        source (str): The annotation file (for the message).
        index (int): The record index (for the message).
        image (str): The record's image (for the message). Defaults to ''.
    """
    if joints.ndim != 2 or joints.shape != (num_keypoints, 2):
        raise ValueError(
            f'{source}: record {index} (image {image!r}) has joints of shape '
            f'{tuple(joints.shape)}, expected ({num_keypoints}, 2): wrong '
            'dataset type or keypoint converter for this file?')


def nonfinite_labelled(joints: np.ndarray, visible: np.ndarray) -> bool:
    """Whether a labelled joint (``visible > 0``) has a NaN/inf coordinate.

    Args:
        joints (np.ndarray): Joints, shape (K, 2).
        visible (np.ndarray): Visibility/labelled flags, shape (K,).

    Returns:
        bool: True if some labelled joint is not finite.
    """
    bad = ~np.isfinite(joints).all(axis=-1)
    return bool(np.any(bad & (np.asarray(visible).reshape(-1) > 0)))
