"""A small MPII release file in the official layout, and the MPII
evaluation's reading of a ``pred`` struct, written for the tests.

``write_release`` lays ``RELEASE`` out as ``mpii_human_pose_v1_u12_1.mat``
does: ``annolist`` (1, N) structs with ``image.name`` and ``annorect``
(``x1``, ``y1``, ``x2``, ``y2`` head box, ``annopoints.point`` with ``x``,
``y``, ``id``, ``is_visible``, ``scale``, ``objpos.x/y``), ``img_train``
(1, N) and ``single_person`` (N, 1) cells of rectangle indices.
``score_pred`` reads a ``pred`` file the way ``evaluatePCKh.m`` indexes it:
test images of the annolist, rectangles flattened, the single-person ones
scored, PCKh with 0.6 x the head-box diagonal.
"""
import numpy as np
from scipy.io import loadmat, savemat

POINT_FIELDS = ('x', 'y', 'id', 'is_visible')
RECT_FIELDS = ('x1', 'y1', 'x2', 'y2', 'annopoints', 'scale', 'objpos')


def _struct(shape, names):
    return np.empty(shape, dtype=[(n, object) for n in names])


def _scalar_struct(**fields):
    s = _struct((1, 1), tuple(fields))
    for k, v in fields.items():
        s[0, 0][k] = v
    return s


def _rect(r):
    rect = {k: np.zeros((0, 0)) for k in RECT_FIELDS}
    if r.get('head') is not None:
        for k, v in zip(('x1', 'y1', 'x2', 'y2'), r['head']):
            rect[k] = float(v)
    if r.get('objpos') is not None:
        rect['objpos'] = _scalar_struct(
            x=float(r['objpos'][0]), y=float(r['objpos'][1]))
        rect['scale'] = float(r['scale'])
    if r.get('joints') is not None:
        vis = r.get('visible', np.ones(len(r['joints'])))
        ids = [j for j in range(len(r['joints'])) if vis[j]]
        point = _struct((1, len(ids)), POINT_FIELDS)
        for k, j in enumerate(ids):
            point[0, k]['x'] = float(r['joints'][j][0])
            point[0, k]['y'] = float(r['joints'][j][1])
            point[0, k]['id'] = float(j)
            point[0, k]['is_visible'] = 1.
        rect['annopoints'] = _scalar_struct(point=point)
    return rect


def write_release(path, images):
    """Write ``RELEASE`` for ``images``.

    Args:
        path (str): The ``.mat`` to write.
        images (list): Per annolist image: ``name``, ``train`` (0 or 1) and
            ``rects``, each a dict with ``objpos`` (x, y) and ``scale``,
            ``head`` (x1, y1, x2, y2), ``joints`` ((16, 2) 1-based pixels)
            and ``visible`` as far as it has them, and ``single`` (bool).
    """
    annolist = _struct((1, len(images)),
                       ('image', 'annorect', 'frame_sec', 'vididx'))
    single = np.empty((len(images), 1), dtype=object)
    for i, im in enumerate(images):
        annolist[0, i]['image'] = _scalar_struct(name=im['name'])
        rects = _struct((1, len(im['rects'])), RECT_FIELDS)
        for r, spec in enumerate(im['rects']):
            for k, v in _rect(spec).items():
                rects[0, r][k] = v
        annolist[0, i]['annorect'] = rects
        annolist[0, i]['frame_sec'] = np.zeros((0, 0))
        annolist[0, i]['vididx'] = np.zeros((0, 0))
        idx = [
            float(r + 1) for r, spec in enumerate(im['rects'])
            if spec.get('single')
        ]
        single[i, 0] = (
            np.array(idx).reshape(-1, 1) if idx else np.zeros((0, 0)))
    release = _scalar_struct(
        annolist=annolist,
        img_train=np.array([[im['train'] for im in images]], dtype=float),
        single_person=single,
        version='12')
    savemat(path, dict(RELEASE=release))


def release_from_split(split_dir, path, extra_images=()):
    """A release whose test images are a generated MPII split's images (one
    single-person rectangle each, the split's 1-based joints and head
    boxes), after ``extra_images``. Returns the joints (N, 16, 2)."""
    import json
    with open(f'{split_dir}/annotations.json') as f:
        recs = json.load(f)
    boxes = loadmat(f'{split_dir}/headboxes.mat')['headboxes_src']
    images = list(extra_images)
    for n, rec in enumerate(recs):
        images.append(
            dict(
                name=rec['image'],
                train=0,
                rects=[
                    dict(
                        objpos=rec['center'],
                        scale=rec['scale'],
                        head=[
                            boxes[0, 0, n], boxes[0, 1, n], boxes[1, 0, n],
                            boxes[1, 1, n]
                        ],
                        joints=np.array(rec['joints']),
                        visible=np.array(rec['joints_vis']),
                        single=True)
                ]))
    write_release(path, images)
    return np.array([r['joints'] for r in recs], dtype=np.float64)


def read_pred(path):
    """``pred`` as ``evaluatePCKh.m`` indexes it: a list over test images of
    lists over rectangles of ``{id: (x, y)}`` (None: no annopoints)."""
    pred = loadmat(path, struct_as_record=True)['pred']
    out = []
    for t in range(pred.shape[1]):
        rects = pred[0, t]['annorect']
        row = []
        for r in range(rects.size):
            ap = rects.flat[r]['annopoints']
            if ap.size == 0:
                row.append(None)
                continue
            point = ap[0, 0]['point']
            row.append({
                int(p['id'].item()): (p['x'].item(), p['y'].item())
                for p in point.flat
            })
        out.append(row)
    return out


def score_pred(release_path, pred_path, thr=0.5):
    """Per-joint PCKh (16,) of a ``pred`` file on the release's single-person
    test rectangles, as the MPII evaluation computes it."""
    mat = loadmat(release_path, struct_as_record=False, squeeze_me=True)
    rel = mat['RELEASE']
    annolist = np.atleast_1d(rel.annolist)
    train = np.atleast_1d(rel.img_train)
    single = np.atleast_1d(rel.single_person)
    test = [i for i in range(len(annolist)) if train[i] == 0]
    pred = read_pred(pred_path)
    assert len(pred) == len(test)
    hits, counts = np.zeros(16), np.zeros(16)
    for t, i in enumerate(test):
        rects = np.atleast_1d(annolist[i].annorect)
        assert len(pred[t]) == len(rects)
        for r in np.atleast_1d(single[i]).astype(int):
            rect = rects[r - 1]
            head = 0.6 * np.hypot(rect.x2 - rect.x1, rect.y2 - rect.y1)
            for p in np.atleast_1d(rect.annopoints.point):
                j = int(p.id)
                x, y = pred[t][r - 1][j]
                d = np.hypot(x - p.x, y - p.y) / head
                hits[j] += d <= thr
                counts[j] += 1
    return 100. * hits / np.maximum(counts, 1), counts
