"""MPII's official release (``mpii_human_pose_v1_u12_1.mat``) to the test
annotations that :class:`MpiiTestDataset` reads.

The MPII benchmark scores a ``pred`` struct laid out as the release's
``annolist`` restricted to the test images (``RELEASE.img_train == 0``):
``pred(t).annorect(r).annopoints.point`` for test image ``t`` and rectangle
``r``, of which it scores the single-person rectangles
(``RELEASE.single_person{i}``). So every record written here keeps its
1-based ``annolist_index`` and ``rect_index``, and the list of all test
images with their number of rectangles is written beside it: the
predictions file needs an entry for each, single-person rectangles or not.
"""
import json
import os
import os.path as osp
from typing import List, Tuple

import numpy as np

#: ``format`` of the test-images file.
TEST_IMAGES_FORMAT = 'sadinet-mpii-test-images-v1'


def _items(value) -> list:
    """A MATLAB struct array / cell / vector read with ``squeeze_me=True``
    as a Python list (a lone element comes back unwrapped, an empty one as
    an empty array)."""
    if isinstance(value, np.ndarray):
        return list(value.ravel())
    return [value]


def _field(obj, name: str, where: str):
    if not hasattr(obj, name):
        raise ValueError(f'{where}: field {name!r} is missing')
    return getattr(obj, name)


def load_release(path: str):
    """Read ``RELEASE`` of the official annotation file.

    Args:
        path (str): ``mpii_human_pose_v1_u12_1.mat``.

    Returns:
        tuple: ``annolist`` (list of structs), ``img_train`` (int array) and
        ``single_person`` (list of lists of 1-based rectangle indices), one
        entry per annolist image.
    """
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such file (the MPII release\'s '
                                'annot/mpii_human_pose_v1_u12_1.mat)')
    try:
        mat = loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as e:  # scipy's errors on text, empty or cut files
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ValueError(f'{path}: not a MATLAB .mat file ({first}); '
                         'expected the MPII release\'s '
                         'mpii_human_pose_v1_u12_1.mat') from e
    if 'RELEASE' not in mat:
        raise ValueError(f'{path}: no variable RELEASE (expected the MPII '
                         'release\'s mpii_human_pose_v1_u12_1.mat)')
    rel = mat['RELEASE']
    annolist = _items(_field(rel, 'annolist', f'{path}: RELEASE'))
    img_train = np.atleast_1d(
        np.asarray(_field(rel, 'img_train',
                          f'{path}: RELEASE'))).astype(np.int64)
    single = [[
        int(r) for r in np.atleast_1d(np.asarray(s)).ravel()
    ] for s in _items(_field(rel, 'single_person', f'{path}: RELEASE'))]
    if not (len(annolist) == len(img_train) == len(single)):
        raise ValueError(
            f'{path}: RELEASE.annolist ({len(annolist)}), img_train '
            f'({len(img_train)}) and single_person ({len(single)}) must '
            'have one entry per image')
    return annolist, img_train, single


def convert_mpii_test(path: str) -> Tuple[List[dict], List[dict]]:
    """The single-person test records and every test image of the release.

    Args:
        path (str): ``mpii_human_pose_v1_u12_1.mat``.

    Returns:
        tuple:
        - records: one dict per single-person rectangle of a test image,
          in annolist order, then rectangle order: ``image``, ``center``
          (``objpos``, MPII's 1-based pixels, as MMPose's ``mpii_test.json``
          keeps it), ``scale`` (``annorect.scale``), ``annolist_index`` and
          ``rect_index`` (both 1-based, MATLAB's indices).
        - images: one dict per test image (``img_train == 0``) in annolist
          order: ``annolist_index``, ``image`` and ``num_rects``.
    """
    annolist, img_train, single = load_release(path)
    records, images = [], []
    for i0, (ann, train) in enumerate(zip(annolist, img_train)):
        if train != 0:
            continue
        idx = i0 + 1
        where = f'{path}: RELEASE.annolist({idx})'
        name = str(
            _field(_field(ann, 'image', where), 'name', f'{where}.image'))
        rects = _items(getattr(ann, 'annorect', np.empty(0)))
        images.append(
            dict(annolist_index=idx, image=name, num_rects=len(rects)))
        for r in single[i0]:
            if not 1 <= r <= len(rects):
                raise ValueError(
                    f'{path}: RELEASE.single_person{{{idx}}} names '
                    f'rectangle {r}, but the image has {len(rects)}')
            rw = f'{where}.annorect({r})'
            rect = rects[r - 1]
            pos = _field(rect, 'objpos', rw)
            centre = [
                float(_field(pos, 'x', f'{rw}.objpos')),
                float(_field(pos, 'y', f'{rw}.objpos'))
            ]
            scale = float(_field(rect, 'scale', rw))
            if not (np.all(np.isfinite(centre)) and scale > 0):
                raise ValueError(f'{rw}: objpos {centre} / scale {scale}: '
                                 'expected finite numbers, scale > 0')
            records.append(
                dict(
                    image=name,
                    center=centre,
                    scale=scale,
                    annolist_index=idx,
                    rect_index=r))
    if not images:
        raise ValueError(f'{path}: no test image (RELEASE.img_train == 0)')
    return records, images


def write_test_annotations(records: List[dict],
                           images: List[dict],
                           out_dir: str,
                           source: str = '') -> List[str]:
    """Write ``mpii_test.json`` (the records) and ``mpii_test_images.json``.

    Args:
        records (list): From :func:`convert_mpii_test`.
        images (list): From :func:`convert_mpii_test`.
        out_dir (str): Output folder (created). Existing files are not
            overwritten.
        source (str): Name of the release file, recorded in the images file.

    Returns:
        list: The two paths written.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = [
        osp.join(out_dir, 'mpii_test.json'),
        osp.join(out_dir, 'mpii_test_images.json')
    ]
    existing = [p for p in paths if osp.exists(p)]
    if existing:
        raise FileExistsError(f'{existing[0]} exists: remove it or choose '
                              'another output folder')
    docs = [
        records,
        dict(
            format=TEST_IMAGES_FORMAT,
            source=source,
            num_records=len(records),
            images=images)
    ]
    for p, doc in zip(paths, docs):
        with open(p, 'w') as f:
            json.dump(doc, f)
    return paths


def load_test_images(path: str) -> List[dict]:
    """The test images listed by :func:`write_test_annotations`."""
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get('format') != TEST_IMAGES_FORMAT:
        raise ValueError(
            f'{path}: field "format" is '
            f'{doc.get("format") if isinstance(doc, dict) else None!r}, '
            f'expected {TEST_IMAGES_FORMAT!r} (made by '
            'tools/convert_mpii_test.py)')
    images = doc.get('images')
    if not isinstance(images, list) or not images:
        raise ValueError(f'{path}: field "images" must be a non-empty list')
    for k, im in enumerate(images):
        if not isinstance(im, dict) or not {
                'annolist_index', 'image', 'num_rects'
        } <= set(im):
            raise ValueError(f'{path}: images[{k}] needs annolist_index, '
                             'image and num_rects')
    return images
