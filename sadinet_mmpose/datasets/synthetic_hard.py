"""The ``hard`` tier of the synthetic figures: scenes that need context.

What the ``easy`` and ``standard`` tiers lack, and what SADI-Net's parts are
meant for (context over four scales, a large receptive field, a
distribution-aware heatmap), drawn on purpose:

* **Left and right from context only.** Both sides of a figure share one
  colour and one texture, and no disc marks a joint: a joint is where two
  limb segments meet. Front and back are told apart by a small cue only
  (eyes and mouth on the front, hair over the back of the head).
* **Overlapping people.** A second figure, in the same palette family,
  overlaps the first in about half of the images; both are labelled, as
  two records with their own boxes (as MPII's multi-person images), so a
  top-down crop of one holds parts of the other.
* **Limb-like clutter:** bars and ellipses in skin and clothing colours.
* **Occluders of three kinds** (solid, textured, limb-like; at most one per
  image) and truncation at the image border as in ``standard``.
* **Detector-like boxes:** the record's box centre is moved by up to 15 %
  and its side scaled by up to 25 %; figures are 0.35 to 0.95 of the image
  height.
* **Photometric damage:** blur, JPEG artefacts, low contrast and lighting
  gradients.

Every joint of every record carries five difficulty tags, written to
``tags.json`` beside the MPII annotations (MMPose never reads it):
``occluded`` (under an occluder or under the figure in front),
``overlapped`` (inside the other figure's silhouette), ``truncated`` (its
figure is cut by the image border), ``lookalike`` (its left/right mirror
joint lies within 0.5 head sizes) and ``small`` (its figure is under half
the image height).

:data:`HARD_PARAMS` and :data:`HARD_VERSION` define the tier, and a change
to either is a new version (its calibration: ``docs/data.md``).
"""
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .synthetic import (_LEN, _disc, _ellipse, _hsv_colour, _line, _unit,
                        vector_length)

#: Version of the ``hard`` tier (its own, so that ``easy`` and ``standard``
#: folders keep their version). Versions 1 and 2 were drafts, too hard for
#: the plain hourglass (see the calibration page).
HARD_VERSION = 3
#: The tier's parameters (set on the plain hourglass alone; frozen with its
#: calibration at version 3).
HARD_PARAMS = dict(
    # pose ranges, degrees (as ``standard``)
    tilt=45,
    head_tilt=25,
    arm=(-30, 180),
    elbow=(-145, 145),
    leg=(-25, 80),
    knee=(-70, 70),
    foreshorten=(0.6, 1.0),
    # figure height unit as a fraction of the image height
    height=(0.35, 0.95),
    back_prob=0.3,
    # a second, overlapping figure; its centre offset from the first one's,
    # as a fraction of the first figure's height unit
    second_prob=0.5,
    second_offset=(0.2, 0.55),
    occluders=1,
    trunc_prob=0.2,
    clutter=8,
    texture_prob=0.5,
    # detector-like box noise (fractions of the box side)
    box_shift=0.15,
    box_scale=0.25,
    # photometric damage: probability of each
    blur_prob=0.2,
    jpeg_prob=0.25,
    jpeg_quality=(20, 50),
    contrast_prob=0.25,
    contrast=(0.45, 0.75),
    gradient_prob=0.3,
    gradient=(0.5, 1.0))


def hard_version() -> str:
    """The tier's version as its manifests store it: ``hard-<N>-<digest of
    HARD_PARAMS>``, so that a folder drawn with other parameters is never
    taken for this tier's data."""
    import hashlib
    import json
    digest = hashlib.sha256(json.dumps(HARD_PARAMS, sort_keys=True).encode())
    return f'hard-{HARD_VERSION}-{digest.hexdigest()[:8]}'


#: Per-joint difficulty tags, in the order of ``tags.json``.
TAG_NAMES = ('occluded', 'overlapped', 'truncated', 'lookalike', 'small')
#: MPII flip pairs (left/right mirror joint of each joint).
MPII_MIRROR = (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)
#: MPII's head size: 0.6 x the head box diagonal.
HEAD_SIZE_FACTOR = 0.6


def _hard_pose(rng: np.random.Generator,
               p: dict) -> Tuple[np.ndarray, float, bool]:
    """The 16 MPII joints of one figure around the origin, its height unit
    in image heights (multiply by the image height) and its view."""
    U = rng.uniform(*p['height'])
    tilt = rng.uniform(-p['tilt'], p['tilt'])
    down = _unit(tilt)
    right_img = np.array([down[1], -down[0]])
    up = -down
    back = bool(rng.random() < p['back_prob'])
    g_left = -1.0 if back else 1.0
    J = np.zeros((16, 2))
    J[7] = J[6] + up * _LEN['torso'] * U
    head_dir = _unit(tilt + 180 + rng.uniform(-p['head_tilt'], p['head_tilt']))
    J[8] = J[7] + head_dir * _LEN['neck'] * U
    J[9] = J[8] + head_dir * _LEN['head'] * U

    def seg(start, length, ang, out):
        f = rng.uniform(*p['foreshorten'])
        r = np.deg2rad(ang)
        return start + length * U * f * (down * np.cos(r) + out * np.sin(r))

    for g, (sh, el, wr, hp, kn, an) in ((g_left, (13, 14, 15, 3, 4, 5)),
                                        (-g_left, (12, 11, 10, 2, 1, 0))):
        out = g * right_img
        J[sh] = J[7] + out * _LEN['shoulder'] * U + down * 0.01 * U
        a1 = rng.uniform(*p['arm'])
        a2 = a1 + rng.uniform(*p['elbow'])
        J[el] = seg(J[sh], _LEN['upper_arm'], a1, out)
        J[wr] = seg(J[el], _LEN['forearm'], a2, out)
        J[hp] = J[6] + out * _LEN['hip'] * U
        l1 = rng.uniform(*p['leg'])
        l2 = l1 + rng.uniform(*p['knee'])
        J[kn] = seg(J[hp], _LEN['thigh'], l1, out)
        J[an] = seg(J[kn], _LEN['shin'], l2, out)
    return J, U, back


def _palette(rng: np.random.Generator) -> Dict[str, tuple]:
    """Clothing, skin and hair colours of one figure."""
    return dict(
        limb=_hsv_colour(
            rng.uniform(0, 180), rng.uniform(60, 230), rng.uniform(90, 240)),
        body=_hsv_colour(
            rng.uniform(0, 180), rng.uniform(0, 200), rng.uniform(70, 220)),
        skin=_hsv_colour(
            rng.uniform(5, 20), rng.uniform(60, 160), rng.uniform(110, 240)),
        hair=_hsv_colour(
            rng.uniform(0, 30), rng.uniform(50, 200), rng.uniform(20, 90)))


def _dark(c):
    return tuple(int(v * 0.55) for v in c)


def _segment(img, a, b, col, thick, texture):
    _line(img, a, b, _dark(col), thick + 2)
    _line(img, a, b, col, thick)
    if texture:  # stripes across the segment
        a, b = np.asarray(a), np.asarray(b)
        d = b - a
        n = np.array([-d[1], d[0]]) / max(vector_length(d), 1e-6)
        for k in (0.3, 0.5, 0.7):
            m = a + d * k
            _line(img, m - n * thick * 0.45, m + n * thick * 0.45, _dark(col),
                  max(1, thick // 4))


def _draw_figure(img: np.ndarray, rng: np.random.Generator, J: np.ndarray,
                 U: float, back: bool, pal: dict, texture: bool) -> None:
    """Draw one figure (one colour and texture for both sides, no joint
    marks) onto ``img``; ``U`` in pixels."""
    t_arm = max(2, int(U * rng.uniform(0.045, 0.065)))
    t_leg = max(2, int(U * rng.uniform(0.06, 0.085)))
    torso = np.round(np.array([J[12], J[13], J[3], J[2]]) *
                     16).astype(np.int32)
    cv2.fillConvexPoly(img, torso, pal['body'], cv2.LINE_AA, shift=4)
    cv2.polylines(
        img, [torso], True, _dark(pal['body']), 1, cv2.LINE_AA, shift=4)
    chains = [(2, 1, 0, t_leg), (3, 4, 5, t_leg), (12, 11, 10, t_arm),
              (13, 14, 15, t_arm)]
    rng.shuffle(chains)
    for a, b, c, t in chains:
        _segment(img, J[a], J[b], pal['limb'], t, texture)
        _segment(img, J[b], J[c], pal['limb'], t, texture)
        d = J[c] - J[b]
        d = d / max(vector_length(d), 1e-6)
        if a in (12, 13):  # a hand beyond the wrist
            _disc(img, J[c] + d * t * 0.7, max(1.5, t * 0.65), pal['skin'])
        else:  # a foot beyond the ankle
            _line(img, J[c], J[c] + d * t * 0.8, _dark(pal['limb']),
                  max(1, int(t * 0.8)))
    _segment(img, J[7], J[8], pal['skin'], max(2, t_arm), False)
    hc = (J[8] + J[9]) / 2.
    hl = vector_length(J[9] - J[8])
    ang = np.degrees(np.arctan2(J[9, 1] - J[8, 1], J[9, 0] - J[8, 0]))
    axes = (max(2, hl / 2), max(2, hl * 0.38))
    _ellipse(img, hc, axes, ang, 0, 360, pal['skin'], -1)
    _ellipse(img, hc, axes, ang, 0, 360, _dark(pal['skin']), 1)
    head_dir = (J[9] - J[8]) / max(hl, 1e-6)
    perp = np.array([-head_dir[1], head_dir[0]])
    if back:  # hair over the back of the head
        _ellipse(img, hc + head_dir * hl * 0.08, axes, ang, 0, 360,
                 pal['hair'], -1)
    else:  # hair cap, eyes and mouth: the only front/back cue
        _ellipse(img, hc, axes, ang, -70, 70, pal['hair'], -1)
        for s in (-1, 1):
            _disc(img, hc + head_dir * hl * 0.05 + perp * s * hl * 0.17,
                  max(0.8, hl / 9), (25, 25, 25))
        m = hc - head_dir * hl * 0.22
        _line(img, m - perp * hl * 0.09, m + perp * hl * 0.09, (40, 40, 110),
              max(1, int(hl / 16)))


def _background(rng: np.random.Generator, p: dict, w: int, h: int,
                pals: List[dict]) -> np.ndarray:
    """A gradient with noise, blobs, and limb-like bars and ellipses in the
    figures' skin and clothing colours."""
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else \
        np.linspace(0, 1, w)[None, :, None]
    img = np.broadcast_to(c0 + (c1 - c0) * t, (h, w, 3)).astype(np.float32)
    img = img + rng.normal(0, 7, (h, w, 1)).astype(np.float32)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
    colours = [
        c for pal in pals for c in (pal['limb'], pal['skin'], pal['body'])
    ]
    for _ in range(rng.integers(p['clutter'] // 2, p['clutter'] + 1)):
        col = colours[rng.integers(len(colours))] if rng.random() < 0.7 \
            else tuple(int(c) for c in rng.integers(30, 226, 3))
        c = rng.uniform(0, 1, 2) * (w, h)
        length = rng.uniform(0.06, 0.22) * h
        ang = rng.uniform(0, 360)
        thick = max(2, int(rng.uniform(0.02, 0.05) * h))
        if rng.random() < 0.6:  # a bar: a limb segment without a figure
            d = _unit(ang) * length / 2
            _segment(img, c - d, c + d, col, thick, rng.random() < 0.3)
        else:  # an ellipse
            _ellipse(img, c, (length / 2, thick * 0.8), ang, 0, 360, col, -1)
    return img


def _occluders(img: np.ndarray, rng: np.random.Generator, p: dict,
               figures: List[dict]) -> np.ndarray:
    """Draw 0..``occluders`` occluders near random joints; return their
    mask (h, w) uint8."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(0, p['occluders'] + 1)):
        fig = figures[rng.integers(len(figures))]
        U = fig['U']
        c = fig['joints'][rng.integers(0, 16)] + rng.normal(0, 0.05 * U, 2)
        kind = rng.integers(3)
        col = tuple(int(v) for v in rng.integers(20, 236, 3))
        one = np.zeros_like(mask)
        if kind < 2:  # solid or textured rectangle
            half = rng.uniform(0.05, 0.12, 2) * U
            p1 = tuple(int(v) for v in c - half)
            p2 = tuple(int(v) for v in c + half)
            cv2.rectangle(one, p1, p2, 255, -1)
            if kind == 0:
                cv2.rectangle(img, p1, p2, col, -1)
            else:
                x0, y0 = max(p1[0], 0), max(p1[1], 0)
                x1, y1 = min(p2[0] + 1, w), min(p2[1] + 1, h)
                if x1 > x0 and y1 > y0:
                    col2 = rng.integers(20, 236, 3)
                    yy, xx = np.mgrid[y0:y1, x0:x1]
                    per = max(2., rng.uniform(0.02, 0.05) * U)
                    stripe = ((xx + yy) // per % 2).astype(bool)
                    patch = np.where(stripe[..., None], np.array(col),
                                     col2).astype(np.float32)
                    patch += rng.normal(0, 12, patch.shape)
                    img[y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)
        else:  # limb-like: a bar in a figure's clothing colour
            pal = fig['palette']
            d = _unit(rng.uniform(0, 360)) * rng.uniform(0.1, 0.2) * U
            thick = max(2, int(U * rng.uniform(0.05, 0.08)))
            _segment(img, c - d, c + d, pal['limb'], thick, False)
            _line(one, c - d, c + d, 255, thick + 2)
        mask |= one
    return mask


def _damage(img: np.ndarray, rng: np.random.Generator, p: dict) -> np.ndarray:
    """Blur, low contrast, a lighting gradient and JPEG artefacts."""
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    if rng.random() < p['blur_prob']:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.6, 1.6))
    if rng.random() < p['contrast_prob']:
        k = rng.uniform(*p['contrast'])
        out = out.mean() + (out - out.mean()) * k
    if rng.random() < p['gradient_prob']:
        lo = rng.uniform(*p['gradient'])
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        s = (np.cos(ang) * xx / w + np.sin(ang) * yy / h)
        s = (s - s.min()) / max(float(s.max() - s.min()), 1e-6)
        out = out * (lo + (1.2 - lo) * s)[..., None]
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < p['jpeg_prob']:
        q = int(rng.integers(p['jpeg_quality'][0], p['jpeg_quality'][1] + 1))
        ok, buf = cv2.imencode('.jpg', out, [int(cv2.IMWRITE_JPEG_QUALITY), q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def _head_size(J: np.ndarray) -> float:
    hl = vector_length(J[9] - J[8])
    return HEAD_SIZE_FACTOR * np.sqrt(2.) * hl


def render_hard(rng: np.random.Generator,
                image_size: Tuple[int, int] = (128, 128),
                params: dict = None) -> dict:
    """Draw one ``hard`` image with one or two figures.

    Args:
        rng (np.random.Generator): The random generator (fixes everything).
        image_size (tuple[int, int]): ``(w, h)``. Defaults to (128, 128).
        params (dict, optional): The tier's parameters. Defaults to
            :data:`HARD_PARAMS`.

    Returns:
        dict: ``img`` (h, w, 3) uint8 BGR and ``persons``, a list (one or
        two) of dicts with ``joints`` (16, 2) 0-based pixels in MPII order,
        ``joints_vis`` (16,) (1 = inside the image), ``headbox`` (2, 2),
        ``tags`` ``{name: (16,) int}`` for :data:`TAG_NAMES`, ``box_noise``
        (3,) ``(dx, dy, ds)`` fractions of the box side, ``back`` and
        ``height`` (the figure's height unit over the image height); and
        ``overlap``, whether two figures' silhouettes intersect.
    """
    p = HARD_PARAMS if params is None else params
    w, h = image_size
    J0, u0, back0 = _hard_pose(rng, p)
    figures = [dict(joints=J0 * h, U=u0 * h, back=back0, height=u0)]
    if rng.random() < p['second_prob']:
        J1, u1, back1 = _hard_pose(rng, p)
        figures.append(dict(joints=J1 * h, U=u1 * h, back=back1, height=u1))
    # place the first figure as ``standard`` does, the second one beside it
    lo, hi = figures[0]['joints'].min(0), figures[0]['joints'].max(0)
    ext = hi - lo
    shift = rng.uniform(-0.06, 0.06, 2) * np.array([w, h])
    if rng.random() < p['trunc_prob']:
        shift = rng.uniform(0.25, 0.45, 2) * ext * rng.choice([-1, 1], 2)
    figures[0]['joints'] += np.array([w, h]) / 2. - (lo + hi) / 2. + shift
    if len(figures) == 2:
        c0 = figures[0]['joints'].mean(0)
        J1 = figures[1]['joints']
        off = rng.uniform(*p['second_offset']) * figures[0]['U']
        d = np.array([rng.choice([-1., 1.]), rng.uniform(-0.4, 0.4)])
        J1 += c0 + off * d / vector_length(d) - J1.mean(0)
    for f in figures:
        f['palette'] = _palette(rng)
        f['texture'] = bool(rng.random() < p['texture_prob'])
    img = _background(rng, p, w, h, [f['palette'] for f in figures])
    order = list(range(len(figures)))
    rng.shuffle(order)  # which figure stands in front
    masks = [None] * len(figures)
    for k in order:
        f = figures[k]
        before = img.copy()
        _draw_figure(img, rng, f['joints'], f['U'], f['back'], f['palette'],
                     f['texture'])
        masks[k] = np.any(img != before, axis=2)
    front = order[-1]
    occ_mask = _occluders(img, rng, p, figures)
    img = _damage(img, rng, p)

    persons = []
    for k, f in enumerate(figures):
        J = f['joints']
        inside = np.all((J >= 0) & (J <= np.array([w - 1, h - 1])), axis=1)
        ij = np.clip(np.round(J).astype(int), 0, [w - 1, h - 1])
        occ = occ_mask[ij[:, 1], ij[:, 0]] > 0
        other = [m for j, m in enumerate(masks) if j != k]
        overl = np.zeros(16, bool)
        for m in other:
            overl |= m[ij[:, 1], ij[:, 0]]
        if len(figures) == 2 and k != front:
            occ |= overl  # the figure in front covers it
        hs = _head_size(J)
        mirror_d = np.linalg.norm(J - J[list(MPII_MIRROR)], axis=1)
        lookalike = (mirror_d <= 0.5 * hs) & (
            np.arange(16) != np.array(MPII_MIRROR))
        trunc = np.full(16, not inside.all())
        small = np.full(16, f['height'] < 0.5)
        noise = np.array([
            rng.uniform(-p['box_shift'], p['box_shift']),
            rng.uniform(-p['box_shift'], p['box_shift']),
            rng.uniform(-p['box_scale'], p['box_scale'])
        ])
        hc = (J[8] + J[9]) / 2.
        half = vector_length(J[9] - J[8]) / 2.
        persons.append(
            dict(
                joints=J,
                joints_vis=inside.astype(np.int64),
                headbox=np.array([[hc[0] - half, hc[1] - half],
                                  [hc[0] + half, hc[1] + half]]),
                tags=dict(
                    occluded=(occ & inside).astype(np.int64),
                    overlapped=(overl & inside).astype(np.int64),
                    truncated=trunc.astype(np.int64),
                    lookalike=lookalike.astype(np.int64),
                    small=small.astype(np.int64)),
                box_noise=noise,
                back=f['back'],
                height=f['height']))
    overlap = len(masks) == 2 and bool(np.any(masks[0] & masks[1]))
    return dict(img=img, persons=persons, overlap=overlap)
