"""A synthetic human-pose data set that ships with the project (as code).

Articulated, human-like figures drawn with OpenCV: head, neck, torso and
limbs with plausible proportions and joint-angle ranges, in MPII's 16-joint
order (or LSP's 14). Deterministic for a seed: image ``i`` depends only on
``(seed, i)`` and the parameters.

Left and right: the figure *faces the viewer* (``easy``) or, in ``standard``,
faces the viewer or turns its back; the front shows a face and a collar
mark, the back does not. The person's right side is on the image's left for
a frontal figure, as for real people. This is what keeps horizontal flipping
(MMPose's ``RandomFlip`` and flip test swap the labels of left/right joints)
consistent: a mirrored frontal figure is again a frontal figure whose
right side is on the image's left. The two sides get two different colours
(random per image, so colour tells the two arms apart where they cross but
never encodes "left" by itself: that would contradict flipped samples).

Difficulty:

* ``easy`` (the default, learnable by a small model in minutes on a CPU):
  frontal figures, moderate pose ranges, torso tilt up to 25 degrees, thick
  limbs with outlines and joint discs, smooth backgrounds with faint
  clutter, no occluder, no truncation.
* ``standard``: front and back views, wider pose ranges and tilt, limb
  foreshortening, textured limbs (stripes), cluttered backgrounds, up to two
  occluders, 20% of images truncated (joints outside the image are
  unlabelled).
* ``hard``: one colour for both sides, no joint marks, overlapping people,
  limb-like clutter, noisy boxes, photometric damage, and difficulty tags
  per joint (:mod:`sadinet_mmpose.datasets.synthetic_hard`, MPII skeleton
  only).

Joint discs, limbs and the head are drawn at sub-pixel precision (OpenCV's
``shift``), so a joint's label is the centre of what is drawn there.

Writers: MPII JSON (MMPose's ``MpiiDataset`` format, 1-based coordinates as
the MPII release, which the project's MPII datasets convert back on load) with
a head-box file (``headboxes_src``, shape (2, 2, N),
as ``mpii_gt_val.mat``) usable as ``headbox_file``; and the original LSP
layout (``joints.mat`` (3, 14, N), flag 1 = occluded, images
``images/im0001.jpg``) for the LSP variant.
"""
import json
import math
import os
import os.path as osp
import shutil
import time
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

GENERATOR_NAME = 'sadinet-synthetic-pose'
#: 2: joints, discs and head drawn at 1/16 px (version 1 drew discs and the
#: head at the truncated joint, 0-1 px up-left of the label).
GENERATOR_VERSION = 2
DIFFICULTIES = ('easy', 'standard', 'hard')
SKELETONS = ('mpii', 'lsp')
#: MPII joint index of each LSP joint (LSP's neck is MPII's upper neck).
MPII_TO_LSP = (0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 8, 9)

# Body proportions as fractions of the figure height unit U.
_LEN = dict(
    torso=0.30,
    neck=0.08,
    head=0.14,
    shoulder=0.115,
    hip=0.08,
    upper_arm=0.17,
    forearm=0.15,
    thigh=0.24,
    shin=0.23)

_RANGES = {
    # degrees; limb angles measured from "down the body" towards outward
    'easy':
    dict(
        tilt=25,
        head_tilt=15,
        arm=(-15, 150),
        elbow=(-110, 110),
        leg=(-10, 45),
        knee=(-35, 35),
        foreshorten=(0.9, 1.0),
        height=(0.72, 0.88),
        back_prob=0.0,
        occluders=0,
        trunc_prob=0.0,
        clutter=3,
        texture_prob=0.0),
    'standard':
    dict(
        tilt=45,
        head_tilt=25,
        arm=(-30, 180),
        elbow=(-145, 145),
        leg=(-25, 80),
        knee=(-70, 70),
        foreshorten=(0.6, 1.0),
        height=(0.55, 0.9),
        back_prob=0.3,
        occluders=2,
        trunc_prob=0.2,
        clutter=10,
        texture_prob=0.5),
}


def _unit(deg: float) -> np.ndarray:
    r = np.deg2rad(deg)
    return np.array([np.sin(r), np.cos(r)])  # 0 deg = image down (+y)


def vector_length(v) -> float:
    """The Euclidean length of a 2-vector.

    Computed without BLAS: ``np.linalg.norm`` of a vector calls BLAS's dot
    product, whose kernels round differently on different CPUs (e.g. with
    and without AVX-512), so the drawn pixels would depend on the machine.

    Args:
        v (array-like): shape (2, ).

    Returns:
        float: ``sqrt(v[0] ** 2 + v[1] ** 2)``, rounded the same everywhere.
    """
    x, y = float(v[0]), float(v[1])
    return math.sqrt(x * x + y * y)


def _hsv_colour(h: float, s: float, v: float) -> Tuple[int, int, int]:
    px = np.uint8([[[int(h) % 180, int(s), int(v)]]])
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _pose(rng: np.random.Generator, cfg: dict, size: Tuple[int, int]):
    """Sample the 16 MPII joints (0-based pixels) of one figure."""
    w, h = size
    U = rng.uniform(*cfg['height']) * h
    tilt = rng.uniform(-cfg['tilt'], cfg['tilt'])
    down = _unit(tilt)
    right_img = np.array([down[1], -down[0]])  # image-right, body frame
    up = -down
    back = rng.random() < cfg['back_prob']
    # image side of the person's left: +1 (image right) when facing us
    g_left = -1.0 if back else 1.0
    fs = lambda: rng.uniform(*cfg['foreshorten'])  # noqa: E731
    J = np.zeros((16, 2))
    J[6] = 0.  # pelvis at origin, placed later
    J[7] = J[6] + up * _LEN['torso'] * U
    head_dir = _unit(tilt + 180 +
                     rng.uniform(-cfg['head_tilt'], cfg['head_tilt']))
    J[8] = J[7] + head_dir * _LEN['neck'] * U
    J[9] = J[8] + head_dir * _LEN['head'] * U
    # (side sign in image, shoulder, elbow, wrist, hip, knee, ankle)
    for g, (sh, el, wr, hp, kn, an) in ((g_left, (13, 14, 15, 3, 4, 5)),
                                        (-g_left, (12, 11, 10, 2, 1, 0))):
        out = g * right_img
        J[sh] = J[7] + out * _LEN['shoulder'] * U + down * 0.01 * U
        a1 = rng.uniform(*cfg['arm'])
        a2 = a1 + rng.uniform(*cfg['elbow'])
        J[el] = J[sh] + _LEN['upper_arm'] * U * fs() * (
            down * np.cos(np.deg2rad(a1)) + out * np.sin(np.deg2rad(a1)))
        J[wr] = J[el] + _LEN['forearm'] * U * fs() * (
            down * np.cos(np.deg2rad(a2)) + out * np.sin(np.deg2rad(a2)))
        J[hp] = J[6] + out * _LEN['hip'] * U
        l1 = rng.uniform(*cfg['leg'])
        l2 = l1 + rng.uniform(*cfg['knee'])
        J[kn] = J[hp] + _LEN['thigh'] * U * fs() * (
            down * np.cos(np.deg2rad(l1)) + out * np.sin(np.deg2rad(l1)))
        J[an] = J[kn] + _LEN['shin'] * U * fs() * (
            down * np.cos(np.deg2rad(l2)) + out * np.sin(np.deg2rad(l2)))
    # place the figure: centre its joint box in the image with jitter
    lo, hi = J.min(0), J.max(0)
    ext = hi - lo
    jitter = rng.uniform(-0.06, 0.06, 2) * np.array([w, h])
    if rng.random() < cfg['trunc_prob']:
        jitter = rng.uniform(0.25, 0.45, 2) * ext * rng.choice([-1, 1], 2)
    J += np.array([w, h]) / 2. - (lo + hi) / 2. + jitter
    return J, U, back


def _background(rng: np.random.Generator, cfg: dict, size) -> np.ndarray:
    w, h = size
    c0 = rng.uniform(40, 215, 3)
    c1 = rng.uniform(40, 215, 3)
    t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else \
        np.linspace(0, 1, w)[None, :, None]
    img = c0 + (c1 - c0) * t
    img = np.broadcast_to(img, (h, w, 3)).astype(np.float32)
    img = img + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    for _ in range(rng.integers(0, cfg['clutter'] + 1)):
        col = tuple(int(c) for c in rng.integers(30, 226, 3))
        p = rng.uniform(0, 1, 2) * (w, h)
        r = int(rng.uniform(0.03, 0.15) * min(w, h))
        if rng.random() < 0.5:
            cv2.circle(img, tuple(int(v) for v in p), r, col, -1, cv2.LINE_AA)
        else:
            q = p + rng.uniform(-0.2, 0.2, 2) * (w, h)
            cv2.line(img, tuple(int(v) for v in p), tuple(int(v) for v in q),
                     col, max(1, r // 3), cv2.LINE_AA)
    return img


#: Fractional bits of OpenCV's drawing coordinates: the figure is drawn at
#: 1/16 px, so a joint's disc is centred on the joint's label.
_SHIFT = 4


def _fx(p) -> tuple:
    """A point (0-based pixels, centres at integers) in OpenCV's fixed
    point."""
    return tuple(int(round(float(v) * (1 << _SHIFT))) for v in p)


def _disc(img, centre, radius, col):
    cv2.circle(
        img,
        _fx(centre),
        int(round(radius * (1 << _SHIFT))),
        col,
        -1,
        cv2.LINE_AA,
        shift=_SHIFT)


def _ellipse(img, centre, axes, ang, start, end, col, thick):
    cv2.ellipse(
        img,
        _fx(centre),
        _fx(axes),
        ang,
        start,
        end,
        col,
        thick,
        cv2.LINE_AA,
        shift=_SHIFT)


def _line(img, a, b, col, thick):
    cv2.line(img, _fx(a), _fx(b), col, thick, cv2.LINE_AA, shift=_SHIFT)


def _limb(img, a, b, col, thick, outline, texture, rng):
    _line(img, a, b, outline, thick + 2)
    _line(img, a, b, col, thick)
    if texture:
        n = 4
        for k in range(1, n):
            p = np.asarray(a) + (np.asarray(b) - np.asarray(a)) * k / n
            _disc(img, p, max(1, thick // 3), outline)


def render_figure(rng: np.random.Generator,
                  image_size: Tuple[int, int] = (128, 128),
                  difficulty: str = 'easy') -> Dict[str, np.ndarray]:
    """Draw one image with one figure.

    Args:
        rng (np.random.Generator): The random generator (fixes everything).
        image_size (tuple[int, int]): ``(w, h)``. Defaults to (128, 128).
        difficulty (str): 'easy' or 'standard'. Defaults to 'easy'.

    Returns:
        dict: ``img`` (h, w, 3) uint8 BGR; ``joints`` (16, 2) 0-based pixel
        coordinates in MPII order; ``joints_vis`` (16,) 1 = labelled (inside
        the image); ``occluded`` (16,) 1 = covered by an occluder or outside;
        ``headbox`` (2, 2) ``[[x1, y1], [x2, y2]]``; ``back`` (bool).
    """
    if difficulty not in _RANGES:
        raise ValueError(f'difficulty must be one of {DIFFICULTIES}, got '
                         f'{difficulty!r}')
    cfg = _RANGES[difficulty]
    w, h = image_size
    J, U, back = _pose(rng, cfg, (w, h))
    img = _background(rng, cfg, (w, h))
    hue = rng.uniform(0, 180)
    sides = {
        'left':
        _hsv_colour(hue, rng.uniform(150, 255), rng.uniform(170, 255)),
        'right':
        _hsv_colour(hue + rng.uniform(60, 120), rng.uniform(150, 255),
                    rng.uniform(170, 255)),
    }
    body = _hsv_colour(
        rng.uniform(0, 180), rng.uniform(0, 90), rng.uniform(90, 200))
    skin = _hsv_colour(
        rng.uniform(5, 20), rng.uniform(60, 160), rng.uniform(120, 240))
    dark = lambda c: tuple(int(v * 0.45) for v in c)  # noqa: E731
    texture = rng.random() < cfg['texture_prob']
    t_arm = max(2, int(U * rng.uniform(0.045, 0.06)))
    t_leg = max(2, int(U * rng.uniform(0.06, 0.08)))
    # torso (polygon shoulders - hips)
    torso = np.array([J[12], J[13], J[3], J[2]])
    cv2.fillConvexPoly(
        img, np.round(torso * 16).astype(np.int32), body, cv2.LINE_AA, shift=4)
    cv2.polylines(
        img, [np.round(torso * 16).astype(np.int32)],
        True,
        dark(body),
        1,
        cv2.LINE_AA,
        shift=4)
    if not back:  # collar mark: a V under the neck on the front
        mid = (J[12] + J[13]) / 2.
        v = J[7] + (J[6] - J[7]) * 0.25
        for s in (J[12], J[13]):
            a = mid + (s - mid) * 0.35
            _line(img, a, v, dark(body), max(1, t_arm // 3))
    legs = [('right', 2, 1, 0), ('left', 3, 4, 5)]
    arms = [('right', 12, 11, 10), ('left', 13, 14, 15)]
    rng.shuffle(legs)
    rng.shuffle(arms)
    for side, a, b, c in legs + arms:
        col = sides[side]
        t = t_leg if a in (2, 3) else t_arm
        _limb(img, J[a], J[b], col, t, dark(col), texture, rng)
        _limb(img, J[b], J[c], col, t, dark(col), texture, rng)
        _disc(img, J[b], max(1, t // 2 + 1), dark(col))
        end = skin if a in (12, 13) else dark(col)
        _disc(img, J[c], max(2, int(t * 0.75)), end)
    # neck and head
    _limb(img, J[7], J[8], skin, max(2, t_arm), dark(skin), False, rng)
    hc = (J[8] + J[9]) / 2.
    hl = vector_length(J[9] - J[8])
    ang = np.degrees(np.arctan2(J[9, 1] - J[8, 1], J[9, 0] - J[8, 0]))
    axes = (max(2, int(hl / 2)), max(2, int(hl * 0.38)))
    _ellipse(img, hc, axes, ang, 0, 360, skin, -1)
    _ellipse(img, hc, axes, ang, 0, 360, dark(skin), 1)
    hair = _hsv_colour(
        rng.uniform(0, 30), rng.uniform(50, 200), rng.uniform(20, 90))
    head_dir = (J[9] - J[8]) / max(hl, 1e-6)
    perp = np.array([-head_dir[1], head_dir[0]])
    if back:  # hair covers the back of the head
        _ellipse(img, hc + head_dir * hl * 0.1, axes, ang, 0, 360, hair, -1)
    else:  # hair cap, eyes and mouth on the front
        _ellipse(img, hc, axes, ang, -70, 70, hair, -1)
        for s in (-1, 1):
            eye = hc + head_dir * hl * 0.05 + perp * s * hl * 0.16
            _disc(img, eye, max(1, int(hl / 12)), (20, 20, 20))
        m = hc - head_dir * hl * 0.22
        _line(img, m - perp * hl * 0.1, m + perp * hl * 0.1, (40, 40, 120),
              max(1, int(hl / 14)))
    occluded = np.zeros(16, dtype=np.int64)
    for _ in range(rng.integers(0, cfg['occluders'] + 1)):
        c = J[rng.integers(0, 16)] + rng.normal(0, 0.05 * U, 2)
        half = rng.uniform(0.05, 0.12, 2) * U
        col = tuple(int(v) for v in rng.integers(20, 236, 3))
        p1, p2 = c - half, c + half
        cv2.rectangle(img, tuple(int(v) for v in p1),
                      tuple(int(v) for v in p2), col, -1)
        inside = np.all((J >= p1) & (J <= p2), axis=1)
        occluded |= inside.astype(np.int64)
    in_img = np.all((J >= 0) & (J <= np.array([w - 1, h - 1])), axis=1)
    vis = in_img.astype(np.int64)
    occluded |= (~in_img).astype(np.int64)
    half = hl / 2.
    headbox = np.array([[hc[0] - half, hc[1] - half],
                        [hc[0] + half, hc[1] + half]])
    return dict(
        img=img,
        joints=J,
        joints_vis=vis,
        occluded=occluded,
        headbox=headbox,
        back=back)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image ``index`` for ``seed`` (order independent)."""
    return np.random.default_rng([int(seed), int(index)])


def mpii_record(name: str,
                joints: np.ndarray,
                vis: np.ndarray,
                image_size: Tuple[int, int],
                box_noise: Optional[Sequence[float]] = None) -> dict:
    """One MPII JSON record (1-based coordinates, centre and scale).

    The box: the labelled joints' extent times 1.15 (room for limb thickness
    and the head), as ``scale = side / 200``; the centre is moved up by the
    15 px * scale that ``MpiiDataset`` moves it down.

    Args:
        name (str): Image file name (numeric stem: MMPose uses it as id).
        joints (np.ndarray): (16, 2) 0-based.
        vis (np.ndarray): (16,) labelled flags.
        image_size (tuple[int, int]): ``(w, h)``.
        box_noise (Sequence[float], optional): ``(dx, dy, ds)``: the centre
            moves by ``(dx, dy)`` times the side and the side is scaled by
            ``1 + ds`` (a detector-like box). Defaults to None (exact box).

    Returns:
        dict: ``image, center, scale, joints, joints_vis``.
    """
    pts = joints[vis > 0] if np.any(vis > 0) else joints
    lo, hi = pts.min(0), pts.max(0)
    side = max(float((hi - lo).max()) * 1.15, 8.)
    center = (lo + hi) / 2. + 1.
    if box_noise is not None:
        center = center + np.asarray(box_noise[:2], dtype=float) * side
        side *= 1. + float(box_noise[2])
    scale = side / 200.
    center[1] -= 15. * scale
    return dict(
        image=name,
        center=[round(float(v), 3) for v in center],
        scale=round(scale, 5),
        joints=[[round(float(x) + 1., 3),
                 round(float(y) + 1., 3)] for x, y in joints],
        joints_vis=[int(v) for v in vis])


def generate_split(out_dir: str,
                   num_images: int = 2000,
                   image_size: Sequence[int] = (128, 128),
                   difficulty: str = 'easy',
                   seed: int = 0,
                   skeleton: str = 'mpii',
                   jpeg_quality: int = 95) -> Dict[str, object]:
    """Generate one split into ``out_dir`` (which must not exist yet).

    Layout for ``skeleton='mpii'``: ``images/000000.jpg ...``,
    ``annotations.json`` (MPII JSON), ``headboxes.mat`` (``headboxes_src``
    (2, 2, N), plus ``pos_gt_src`` (16, 2, N) and ``jnt_missing`` (16, N) as
    in ``mpii_gt_val.mat``). For ``skeleton='lsp'``:
    ``lsp_dataset/images/im0001.jpg ...`` and ``lsp_dataset/joints.mat``
    in the original LSP layout, plus ``annotations.json`` converted from it
    (see :mod:`sadinet_mmpose.datasets.lsp_convert`). Both: ``manifest.json``
    with the parameters, written last.

    Args:
        out_dir (str): Destination folder (created).
        num_images (int): Number of images. Defaults to 2000.
        image_size (Sequence[int]): ``(w, h)`` or one int. Defaults to
            (128, 128).
        difficulty (str): 'easy', 'standard' or 'hard'. Defaults to 'easy'.
        seed (int): Random seed. Defaults to 0.
        skeleton (str): 'mpii' (16 joints) or 'lsp' (14). Defaults to
            'mpii'.
        jpeg_quality (int): JPEG quality. Defaults to 95.

    Returns:
        dict: The manifest (parameters, counts and ``images_per_s``).
    """
    from scipy.io import savemat
    manifest = make_manifest(num_images, image_size, difficulty, seed,
                             skeleton)
    w, h = manifest['image_size']
    if difficulty == 'hard':
        return _generate_hard(out_dir, manifest, jpeg_quality)
    os.makedirs(out_dir, exist_ok=False)
    img_dir = osp.join(
        out_dir,
        'images' if skeleton == 'mpii' else osp.join('lsp_dataset', 'images'))
    os.makedirs(img_dir)
    t0 = time.perf_counter()
    records, heads, joints_all, vis_all, occ_all = [], [], [], [], []
    for i in range(num_images):
        s = render_figure(sample_rng(seed, i), (w, h), difficulty)
        name = f'{i:06d}.jpg' if skeleton == 'mpii' else f'im{i + 1:04d}.jpg'
        ok = cv2.imwrite(
            osp.join(img_dir, name), s['img'],
            [int(cv2.IMWRITE_JPEG_QUALITY),
             int(jpeg_quality)])
        if not ok:
            raise IOError(f'could not write {osp.join(img_dir, name)}')
        joints_all.append(s['joints'])
        vis_all.append(s['joints_vis'])
        occ_all.append(s['occluded'])
        heads.append(s['headbox'] + 1.)
        if skeleton == 'mpii':
            records.append(
                mpii_record(name, s['joints'], s['joints_vis'], (w, h)))
    joints_all = np.stack(joints_all) if joints_all else np.zeros((0, 16, 2))
    vis_all = np.stack(vis_all) if vis_all else np.zeros((0, 16))
    occ_all = np.stack(occ_all) if occ_all else np.zeros((0, 16))
    if skeleton == 'mpii':
        with open(osp.join(out_dir, 'annotations.json'), 'w') as f:
            json.dump(records, f)
        heads_arr = np.stack(heads) if heads else np.zeros((0, 2, 2))
        savemat(
            osp.join(out_dir, 'headboxes.mat'),
            dict(
                headboxes_src=np.transpose(heads_arr, (1, 2, 0)),
                pos_gt_src=np.transpose(joints_all + 1., (1, 2, 0)),
                jnt_missing=np.transpose(1 - vis_all, (1, 0))))
    else:
        from .lsp_convert import (_document, lsp_joints_to_keypoints,
                                  make_records)
        from .validation import SkippedRecords
        idx = list(MPII_TO_LSP)
        kpt = joints_all[:, idx] + 1.
        occ = occ_all[:, idx]
        raw = np.concatenate([kpt, occ[..., None]], axis=-1)  # (N, 14, 3)
        raw = np.transpose(raw, (2, 1, 0))  # (3, 14, N): the LSP layout
        savemat(
            osp.join(out_dir, 'lsp_dataset', 'joints.mat'), dict(joints=raw))
        k, v, o = lsp_joints_to_keypoints(raw)
        names = [
            f'lsp_dataset/images/im{i + 1:04d}.jpg' for i in range(num_images)
        ]
        skipped = SkippedRecords(out_dir)
        recs = make_records(k, v, o, names, 'lsp', range(num_images), 0.1,
                            skipped)
        with open(osp.join(out_dir, 'annotations.json'), 'w') as f:
            json.dump(
                _document(recs, 'lsp', 'synthetic', 0.1, True, skipped), f)
    dt = time.perf_counter() - t0
    manifest['images_per_s'] = round(num_images / max(dt, 1e-9), 1)
    with open(osp.join(out_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest


def _generate_hard(out_dir: str, manifest: dict, jpeg_quality: int) -> dict:
    """Write one ``hard`` split (see :func:`generate_split`): one record
    per labelled person, ``tags.json`` beside the annotations."""
    from scipy.io import savemat

    from .synthetic_hard import TAG_NAMES, render_hard
    w, h = manifest['image_size']
    os.makedirs(out_dir, exist_ok=False)
    img_dir = osp.join(out_dir, 'images')
    os.makedirs(img_dir)
    t0 = time.perf_counter()
    records, heads, joints_all, vis_all = [], [], [], []
    tags = {k: [] for k in TAG_NAMES}
    two = overlap = 0
    for i in range(manifest['num_images']):
        s = render_hard(sample_rng(manifest['seed'], i), (w, h))
        name = f'{i:06d}.jpg'
        ok = cv2.imwrite(
            osp.join(img_dir, name), s['img'],
            [int(cv2.IMWRITE_JPEG_QUALITY),
             int(jpeg_quality)])
        if not ok:
            raise IOError(f'could not write {osp.join(img_dir, name)}')
        two += len(s['persons']) > 1
        overlap += s['overlap']
        for p in s['persons']:
            if not np.any(p['joints_vis'] > 0):
                continue
            records.append(
                mpii_record(
                    name,
                    p['joints'],
                    p['joints_vis'], (w, h),
                    box_noise=p['box_noise']))
            joints_all.append(p['joints'])
            vis_all.append(p['joints_vis'])
            heads.append(p['headbox'] + 1.)
            for k in TAG_NAMES:
                tags[k].append([int(v) for v in p['tags'][k]])
    with open(osp.join(out_dir, 'annotations.json'), 'w') as f:
        json.dump(records, f)
    with open(osp.join(out_dir, 'tags.json'), 'w') as f:
        json.dump(
            dict(
                format=TAGS_FORMAT,
                annotations='annotations.json',
                names=list(TAG_NAMES),
                tags=tags), f)
    joints_all, vis_all = np.stack(joints_all), np.stack(vis_all)
    savemat(
        osp.join(out_dir, 'headboxes.mat'),
        dict(
            headboxes_src=np.transpose(np.stack(heads), (1, 2, 0)),
            pos_gt_src=np.transpose(joints_all + 1., (1, 2, 0)),
            jnt_missing=np.transpose(1 - vis_all, (1, 0))))
    dt = time.perf_counter() - t0
    n = manifest['num_images']
    manifest.update(
        persons=len(records),
        images_two_figures=int(two),
        images_overlapping=int(overlap),
        tag_counts={
            k: int(np.sum(np.array(v) * vis_all))
            for k, v in tags.items()
        },
        labelled_joints=int(vis_all.sum()),
        images_per_s=round(n / max(dt, 1e-9), 1))
    with open(osp.join(out_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest


#: Format of the ``tags.json`` beside a ``hard`` split's annotations.
TAGS_FORMAT = 'sadinet-joint-tags-v1'


def make_manifest(num_images: int, image_size, difficulty: str, seed: int,
                  skeleton: str) -> dict:
    """The parameters that define a split (compared on reuse).

    Args:
        num_images (int): Number of images.
        image_size (int | Sequence[int]): ``(w, h)`` or one int.
        difficulty (str): 'easy', 'standard' or 'hard'.
        seed (int): Random seed.
        skeleton (str): 'mpii' or 'lsp'.

    Returns:
        dict: The manifest (without timing).
    """
    if isinstance(image_size, (int, np.integer)):
        image_size = (int(image_size), int(image_size))
    image_size = [int(v) for v in image_size]
    if len(image_size) != 2 or min(image_size) < 32:
        raise ValueError(f'image_size must be (w, h) >= 32, got {image_size}')
    if difficulty not in DIFFICULTIES:
        raise ValueError(f'difficulty must be one of {DIFFICULTIES}, got '
                         f'{difficulty!r}')
    if skeleton not in SKELETONS:
        raise ValueError(f'skeleton must be one of {SKELETONS}, got '
                         f'{skeleton!r}')
    if difficulty == 'hard' and skeleton != 'mpii':
        raise ValueError("the 'hard' difficulty has the MPII skeleton only "
                         f'(its second figure needs one record per person); '
                         f'got skeleton {skeleton!r}')
    if int(num_images) < 1:
        raise ValueError(f'num_images must be >= 1, got {num_images}')
    version = GENERATOR_VERSION
    if difficulty == 'hard':
        from .synthetic_hard import hard_version
        version = hard_version()
    return dict(
        generator=GENERATOR_NAME,
        version=version,
        skeleton=skeleton,
        num_images=int(num_images),
        image_size=image_size,
        difficulty=difficulty,
        seed=int(seed))


_DEFINING = ('generator', 'version', 'skeleton', 'num_images', 'image_size',
             'difficulty', 'seed')


def ensure_split(split_dir: str, **params) -> dict:
    """Generate ``split_dir`` unless it already holds the same data.

    Safe with several processes (e.g. DDP ranks): generation runs under an
    exclusive file lock (``fcntl`` where available) into a temporary folder
    that is renamed into place when complete, so a reader never sees a
    half-written split. An existing split is reused only if its
    ``manifest.json`` has the same parameters; a folder without a manifest
    (user data) or with other parameters is never overwritten: that raises
    ``FileExistsError`` / ``ValueError``.

    Args:
        split_dir (str): The split folder.
        **params: ``num_images``, ``image_size``, ``difficulty``, ``seed``,
            ``skeleton`` (see :func:`generate_split`).

    Returns:
        dict: The manifest of the split.
    """
    want = make_manifest(**params)
    parent = osp.dirname(osp.abspath(split_dir))
    os.makedirs(parent, exist_ok=True)
    if not osp.exists(split_dir):
        lock_path = osp.join(parent, f'.{osp.basename(split_dir)}.lock')
        with open(lock_path, 'a') as lock:
            try:
                import fcntl
                fcntl.flock(lock, fcntl.LOCK_EX)
            except ImportError:  # no fcntl: the atomic rename still protects
                pass
            if not osp.exists(split_dir):
                tmp = f'{split_dir}.tmp-{os.getpid()}-{time.time_ns()}'
                try:
                    generate_split(tmp, **params)
                    os.rename(tmp, split_dir)
                except OSError:
                    if not osp.exists(split_dir):
                        raise
                finally:
                    if osp.exists(tmp):
                        shutil.rmtree(tmp, ignore_errors=True)
    return check_manifest(split_dir, want)


def check_manifest(split_dir: str, want: dict) -> dict:
    """Compare the stored manifest of ``split_dir`` with ``want``.

    Args:
        split_dir (str): The split folder.
        want (dict): The expected parameters (:func:`make_manifest`).

    Returns:
        dict: The stored manifest.
    """
    path = osp.join(split_dir, 'manifest.json')
    if not osp.isfile(path):
        raise FileExistsError(
            f'{split_dir} exists but has no manifest.json: it was not made by '
            'the synthetic generator (or is incomplete); refusing to '
            'overwrite it. Choose another data_root or remove the folder.')
    with open(path) as f:
        have = json.load(f)
    diff = {
        k: (have.get(k), want[k])
        for k in _DEFINING if have.get(k) != want[k]
    }
    if diff:
        listed = ', '.join(f'{k}: stored {a!r} != requested {b!r}'
                           for k, (a, b) in diff.items())
        raise ValueError(
            f'{split_dir} holds synthetic data made with other parameters '
            f'({listed}). Use another data_root, request the stored '
            'parameters, or delete the folder to regenerate it.')
    return have


def default_split_seed(split: str, base_seed: Optional[int] = None) -> int:
    """Seed of a split: train 0, val 1 (plus ``base_seed`` * 1000)."""
    offsets = dict(train=0, val=1, test=2)
    if split not in offsets:
        raise ValueError(f'split must be one of {sorted(offsets)}, got '
                         f'{split!r}')
    return offsets[split] + 1000 * int(base_seed or 0)
