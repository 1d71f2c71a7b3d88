"""Run a SADI-Net checkpoint on an image and draw what it predicts.

    python tools/demo.py CONFIG CHECKPOINT IMAGE [--bbox X1 Y1 X2 Y2] [--out
    OUT.png]

The picture has four panels: the skeleton over the image with one ellipse per
joint of the predicted sigma (the DLM's uncertainty, in image pixels), then
the person crop with the H1 heatmaps (the backbone's), the H2 heatmaps (the
flow-rendered learnable distribution), and a per-joint sigma chart. Stock
MMPose models work too (panels they cannot fill say so). MMPose's
``demo/image_demo.py --draw-heatmap`` draws only H1 and no sigma, hence this
tool.
"""
import argparse
import json
import os
import os.path as osp
import sys
import warnings
from typing import Optional, Sequence

import cv2
import numpy as np

PANEL = 256


def load_model(config: str, checkpoint: str, device: str = 'cpu'):
    """``init_model`` with clear errors and heatmap output switched on."""
    # isort: off
    import sadinet_mmpose  # noqa: F401  (mmcv-lite placeholders, registries)
    # isort: on
    from mmengine.config import Config
    from mmpose.apis import init_model

    from sadinet_mmpose.engine import load_fitting_checkpoint
    for path, what in ((config, 'config'), (checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(config)
    cfg.model.setdefault('test_cfg', {})['output_heatmaps'] = True
    model = init_model(cfg, None, device=device)
    ckpt = load_fitting_checkpoint(model, checkpoint, config)
    meta = ckpt.get('meta', {}).get('dataset_meta')
    if meta:
        model.dataset_meta = meta
    return model


def predict_and_render(model,
                       image: str,
                       bbox: Optional[Sequence[float]] = None,
                       size: int = PANEL):
    """Run ``inference_topdown`` on one image/box and render the panels."""
    from mmpose.apis import inference_topdown
    img = cv2.imread(image)
    if img is None:
        raise FileNotFoundError(
            f'cannot read image {image} (missing or not an image)')
    if bbox is None:
        warnings.warn(
            f'no person box given for {image}: using the whole image '
            '(pass --bbox X1 Y1 X2 Y2 for a better crop)')
        bboxes = None
    else:
        from sadinet_mmpose.deploy.preprocess import check_boxes
        try:  # the ONNX runtime's rule: finite, with area, on the image
            bboxes = check_boxes(bbox, img.shape[:2])
        except ValueError as e:
            raise ValueError(f'--bbox of {image}: {e}') from None
    result = inference_topdown(model, img, bboxes)[0]
    return render_prediction(img, result, model.dataset_meta, size), result


def render_prediction(img: np.ndarray,
                      data_sample,
                      dataset_meta: dict,
                      size: int = PANEL) -> np.ndarray:
    """Four panels (skeleton + sigma, crop + H1, crop + H2, sigma chart),
    drawn by :class:`~sadinet_mmpose.visualization.SigmaPoseVisualizer`.

    Args:
        img (np.ndarray): The original image, BGR, (H, W, 3).
        data_sample (PoseDataSample): One prediction of ``inference_topdown``.
        dataset_meta (dict): The model's ``dataset_meta``.
        size (int): Panel side in pixels. Defaults to 256.

    Returns:
        np.ndarray: The picture, BGR, (size, 4 * size, 3).
    """
    import uuid

    from sadinet_mmpose.visualization import SigmaPoseVisualizer
    vis = SigmaPoseVisualizer(
        name=f'sadinet_demo_{uuid.uuid4().hex}', panel_size=size)
    vis.set_dataset_meta(dataset_meta)
    return vis.render_panels(img, data_sample)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], allow_abbrev=False)
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('image', help='image file')
    parser.add_argument(
        '--bbox',
        type=float,
        nargs=4,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='person box in pixels (default: the whole image)')
    parser.add_argument(
        '--out',
        default=None,
        help='output picture (default: <image>_sadinet.png next '
        'to the current directory; never overwrites)')
    parser.add_argument(
        '--out-json',
        default=None,
        help='also write the prediction as JSON: keypoints, '
        'scores, sigmas, their degrees of freedom and whether '
        'they are calibrated (never overwrites)')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    out = args.out or osp.splitext(osp.basename(
        args.image))[0] + '_sadinet.png'
    for path, flag in ((out, '--out'), (args.out_json, '--out-json')):
        if path and osp.exists(path):
            sys.exit(f'{path} exists; choose another {flag} (nothing was '
                     'overwritten)')
    from sadinet_mmpose.engine import CheckpointMismatchError
    try:
        model = load_model(args.config, args.checkpoint, args.device)
        picture, result = predict_and_render(model, args.image, args.bbox)
    except (FileNotFoundError, ValueError, CheckpointMismatchError) as e:
        sys.exit(f'error: {e}')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    cv2.imwrite(out, picture)
    pred = result.pred_instances
    names = model.dataset_meta.get('keypoint_id2name', {})
    calibrated = ('sigma_calibrated' in pred
                  and bool(np.asarray(pred.sigma_calibrated).reshape(-1)[0]))
    label = 'sigma' + ('' if 'keypoint_sigmas' not in pred else
                       ' (calibrated)' if calibrated else ' (uncalibrated)')
    print(f'{"joint":<16}{"x":>8}{"y":>8}{"score":>7}  {label}')
    for k, (x, y) in enumerate(pred.keypoints[0]):
        sig = pred.keypoint_sigmas[0][k].mean(
        ) if 'keypoint_sigmas' in pred else float('nan')
        print(f'{names.get(k, k)!s:<16}{x:8.1f}{y:8.1f}'
              f'{pred.keypoint_scores[0][k]:7.2f}  {sig:.1f}')
    print(f'wrote {out}')
    if args.out_json:
        with open(args.out_json, 'w') as f:
            json.dump(
                prediction_record(result, names, calibrated), f, indent=1)
        print(f'wrote {args.out_json}')


def prediction_record(result, names: dict, calibrated: bool) -> dict:
    """One prediction as plain JSON types: ``keypoints`` (K, 2) image
    pixels, ``keypoint_scores`` (K,), ``keypoint_sigmas`` (K, 2) image
    pixels (a Gaussian's standard deviation, or a Student t's scale),
    ``keypoint_sigma_dof`` (K,) or None for a Gaussian, ``sigma_calibrated``,
    ``bbox`` and ``keypoint_names``."""
    pred = result.pred_instances
    rec = dict(
        keypoints=np.asarray(pred.keypoints)[0].tolist(),
        keypoint_scores=np.asarray(pred.keypoint_scores)[0].tolist(),
        keypoint_sigmas=None,
        keypoint_sigma_dof=None,
        sigma_calibrated=bool(calibrated),
        bbox=np.asarray(pred.bboxes)[0].tolist() if 'bboxes' in pred else None,
        keypoint_names=[
            str(names.get(k, k))
            for k in range(np.asarray(pred.keypoints).shape[1])
        ])
    if 'keypoint_sigmas' in pred:
        rec['keypoint_sigmas'] = np.asarray(pred.keypoint_sigmas)[0].tolist()
    if 'keypoint_sigma_dof' in pred:
        rec['keypoint_sigma_dof'] = np.asarray(
            pred.keypoint_sigma_dof)[0].tolist()
    return rec


if __name__ == '__main__':
    main()
