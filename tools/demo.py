"""Run a SADI-Net checkpoint on an image and draw what it predicts.

    python tools/demo.py CONFIG CHECKPOINT IMAGE [--bbox X1 Y1 X2 Y2] [--out OUT.png]

The picture has four panels: the skeleton over the image with one ellipse per
joint of the predicted sigma (the DLM's uncertainty, in image pixels), then
the person crop with the H1 heatmaps (the backbone's), the H2 heatmaps (the
flow-rendered learnable distribution), and a per-joint sigma chart. Stock
MMPose models work too (panels they cannot fill say so). MMPose's
``demo/image_demo.py --draw-heatmap`` draws only H1 and no sigma, hence this
tool.
"""
import argparse
import os
import os.path as osp
import sys
import warnings
from typing import Optional, Sequence

import cv2
import numpy as np

PANEL = 256


def _colormap(heatmap: np.ndarray, size: int) -> np.ndarray:
    hm = np.clip(np.nan_to_num(heatmap), 0, None)
    hm = hm / max(float(hm.max()), 1e-6)
    hm = cv2.resize((hm * 255).astype(np.uint8), (size, size),
                    interpolation=cv2.INTER_LINEAR)
    return cv2.applyColorMap(hm, cv2.COLORMAP_JET)


def _text(img, text, org=(6, 18), scale=0.5):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3,
                cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)


def crop_person(img: np.ndarray, metainfo: dict, size: int = PANEL) -> np.ndarray:
    """The person crop the model saw, resized to ``size`` x ``size``."""
    from mmpose.structures.bbox import get_warp_matrix
    center = np.asarray(metainfo['input_center'], dtype=np.float32)
    scale = np.asarray(metainfo['input_scale'], dtype=np.float32)
    warp = get_warp_matrix(center, scale, 0, output_size=(size, size))
    return cv2.warpAffine(img, warp, (size, size), flags=cv2.INTER_LINEAR)


def draw_skeleton(img: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                  dataset_meta: dict, sigmas: Optional[np.ndarray] = None,
                  score_thr: float = 0.1) -> np.ndarray:
    """Skeleton (and sigma ellipses) of one person over ``img`` (BGR)."""
    out = img.copy()
    thick = max(1, int(round(max(img.shape[:2]) / 300)))
    links = dataset_meta.get('skeleton_links', [])
    link_colors = dataset_meta.get('skeleton_link_colors')
    kpt_colors = dataset_meta.get('keypoint_colors')
    for i, (a, b) in enumerate(links):
        if scores[a] < score_thr or scores[b] < score_thr:
            continue
        color = tuple(int(c) for c in link_colors[i][::-1]) if (
            link_colors is not None and len(link_colors) > i) else (0, 255, 0)
        cv2.line(out, tuple(np.round(keypoints[a]).astype(int)),
                 tuple(np.round(keypoints[b]).astype(int)), color, thick * 2,
                 cv2.LINE_AA)
    for k, (x, y) in enumerate(keypoints):
        if scores[k] < score_thr:
            continue
        color = tuple(int(c) for c in kpt_colors[k][::-1]) if (
            kpt_colors is not None and len(kpt_colors) > k) else (0, 0, 255)
        if sigmas is not None:
            axes = tuple(int(max(1, round(v))) for v in sigmas[k])
            cv2.ellipse(out, (int(round(x)), int(round(y))), axes, 0, 0, 360,
                        (255, 255, 255), thick, cv2.LINE_AA)
        cv2.circle(out, (int(round(x)), int(round(y))), thick * 2 + 1, color,
                   -1, cv2.LINE_AA)
    return out


def _sigma_chart(sigmas: Optional[np.ndarray], names: Sequence[str],
                 size: int = PANEL) -> np.ndarray:
    chart = np.full((size, size, 3), 255, np.uint8)
    if sigmas is None:
        _text(chart, 'no sigma (not a DLM head)', (6, size // 2), 0.45)
        return chart
    mean = sigmas.mean(axis=1)
    top = max(float(mean.max()), 1e-6)
    rows = len(mean)
    row_h = (size - 24) / max(rows, 1)
    cv2.putText(chart, 'sigma per joint (px)', (6, 16),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for k, v in enumerate(mean):
        y = int(24 + k * row_h)
        w = int((size - 140) * v / top)
        cv2.rectangle(chart, (100, y + 1), (100 + w, int(y + row_h) - 1),
                      (200, 120, 40), -1)
        label = (names[k] if k < len(names) else str(k))[:13]
        cv2.putText(chart, f'{label}', (2, int(y + row_h * 0.8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(chart, f'{v:.1f}', (104 + w, int(y + row_h * 0.8)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    return chart


def render_prediction(img: np.ndarray, data_sample, dataset_meta: dict,
                      size: int = PANEL) -> np.ndarray:
    """Four panels: skeleton + sigma, crop + H1, crop + H2, sigma chart.

    Args:
        img (np.ndarray): The original image, BGR, (H, W, 3).
        data_sample (PoseDataSample): One prediction of ``inference_topdown``
            (with ``test_cfg.output_heatmaps=True`` for the heatmap panels).
        dataset_meta (dict): The model's ``dataset_meta``.
        size (int): Panel side in pixels. Defaults to 256.

    Returns:
        np.ndarray: The picture, BGR, (size, 4 * size, 3).
    """
    pred = data_sample.pred_instances
    kpts = np.asarray(pred.keypoints)[0]
    scores = np.asarray(pred.keypoint_scores)[0]
    sigmas = np.asarray(pred.keypoint_sigmas)[0] if 'keypoint_sigmas' in pred else None
    skeleton = draw_skeleton(img, kpts, scores, dataset_meta, sigmas)
    h, w = skeleton.shape[:2]
    f = size / max(h, w)
    skeleton = cv2.resize(skeleton, (max(1, int(w * f)), max(1, int(h * f))))
    panel0 = np.zeros((size, size, 3), np.uint8)
    panel0[:skeleton.shape[0], :skeleton.shape[1]] = skeleton
    _text(panel0, 'skeleton + sigma')

    crop = crop_person(img, data_sample.metainfo, size)
    fields = data_sample.get('pred_fields', None)
    panels = [panel0]
    for key, title in (('heatmaps', 'H1 (backbone)'), ('heatmaps_h2', 'H2 (flow)')):
        if fields is not None and key in fields:
            hm = np.asarray(fields.get(key).detach().cpu().numpy()
                            if hasattr(fields.get(key), 'detach') else fields.get(key))
            panel = cv2.addWeighted(crop, 0.45, _colormap(hm.max(axis=0), size), 0.55, 0)
        else:
            panel = (crop * 0.4).astype(np.uint8)
            title += ': not given'
        _text(panel, title)
        panels.append(panel)
    names = [dataset_meta['keypoint_id2name'][i]
             for i in range(len(kpts))] if 'keypoint_id2name' in dataset_meta else []
    panels.append(_sigma_chart(sigmas, names, size))
    return np.concatenate(panels, axis=1)


def load_model(config: str, checkpoint: str, device: str = 'cpu'):
    """``init_model`` with clear errors and heatmap output switched on."""
    import sadinet_mmpose  # noqa: F401  (mmcv-lite placeholders, registries)
    from mmengine.config import Config
    from mmpose.apis import init_model

    from sadinet_mmpose.engine import describe_mismatch
    for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(config)
    cfg.model.setdefault('test_cfg', {})['output_heatmaps'] = True
    model = init_model(cfg, None, device=device)
    import torch
    ckpt = torch.load(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    report = describe_mismatch(model.state_dict(), state)
    if report is not None:
        raise RuntimeError(f'checkpoint {checkpoint} does not fit the model of '
                           f'{config}:\n{report}')
    model.load_state_dict({k[7:] if k.startswith('module.') else k: v
                           for k, v in state.items()}, strict=False)
    meta = ckpt.get('meta', {}).get('dataset_meta')
    if meta:
        model.dataset_meta = meta
    return model


def predict_and_render(model, image: str, bbox: Optional[Sequence[float]] = None,
                       size: int = PANEL):
    """Run ``inference_topdown`` on one image/box and render the panels."""
    from mmpose.apis import inference_topdown
    img = cv2.imread(image)
    if img is None:
        raise FileNotFoundError(f'cannot read image {image} (missing or not an image)')
    if bbox is None:
        warnings.warn(f'no person box given for {image}: using the whole image '
                      '(pass --bbox X1 Y1 X2 Y2 for a better crop)')
        bboxes = None
    else:
        bbox = np.asarray(bbox, dtype=np.float32).reshape(1, 4)
        if not np.all(np.isfinite(bbox)) or bbox[0, 2] <= bbox[0, 0] or bbox[0, 3] <= bbox[0, 1]:
            raise ValueError(f'--bbox must be X1 Y1 X2 Y2 with X2 > X1 and Y2 > Y1, got {bbox[0].tolist()}')
        bboxes = bbox
    result = inference_topdown(model, img, bboxes)[0]
    return render_prediction(img, result, model.dataset_meta, size), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('image', help='image file')
    parser.add_argument('--bbox', type=float, nargs=4, metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='person box in pixels (default: the whole image)')
    parser.add_argument('--out', default=None,
                        help='output picture (default: <image>_sadinet.png next '
                        'to the current directory; never overwrites)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    out = args.out or osp.splitext(osp.basename(args.image))[0] + '_sadinet.png'
    if osp.exists(out):
        sys.exit(f'{out} exists; choose another --out (nothing was overwritten)')
    model = load_model(args.config, args.checkpoint, args.device)
    picture, result = predict_and_render(model, args.image, args.bbox)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    cv2.imwrite(out, picture)
    pred = result.pred_instances
    names = model.dataset_meta.get('keypoint_id2name', {})
    print(f'{"joint":<16}{"x":>8}{"y":>8}{"score":>7}{"sigma":>8}')
    for k, (x, y) in enumerate(pred.keypoints[0]):
        sig = pred.keypoint_sigmas[0][k].mean() if 'keypoint_sigmas' in pred else float('nan')
        print(f'{names.get(k, k)!s:<16}{x:8.1f}{y:8.1f}{pred.keypoint_scores[0][k]:7.2f}{sig:8.1f}')
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
