#!/usr/bin/env python
"""Export a top-down pose model to ONNX and check it against PyTorch.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out FILE.onnx \
        [--input-size H W] [--batch N | --dynamic-batch]

The graph is backbone -> neck -> head forward on normalised crops, with the
input ``input`` (N, 3, h, w) and the outputs ``heatmaps`` (N, K, H, W) (the
last stage's H1) and, for SADI-Net's DLM head, ``mu`` and ``sigma``
(N, K, 2); stock heatmap heads (HeatmapHead, CPMHead) give ``heatmaps``
only. ONNX opset 17 by default, PyTorch's TorchScript-based exporter. The
file carries the test pipeline's settings as metadata, so that
``sadinet_mmpose.deploy.OnnxPoseEstimator`` (numpy + OpenCV + ONNX Runtime)
runs it on an image and person boxes.

After the export ONNX Runtime (CPU) and PyTorch run the same inputs, random
crops and the crops of real images (``--images``, by default the MPII sample
images of the tests), and the largest difference of every output is
printed. The check passes when, per output, ``max |ORT - PyTorch| <= atol +
rtol * max |PyTorch|``. Exit status: 0 passed, 1 above tolerance, 2 bad
input (one line on stderr naming what does not fit).

CHECKPOINT ``none`` exports the initial (random) weights: for latency and
structure checks only.
"""
import argparse
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        description='Export backbone -> neck -> head forward to ONNX and '
        'check ONNX Runtime against PyTorch.')
    p.add_argument('config', help='model config file')
    p.add_argument(
        'checkpoint',
        help="checkpoint file, or 'none' for the "
        'initial weights')
    p.add_argument('--out', required=True, help='the .onnx file to write')
    p.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="crop height and width (must be the codec's; "
        'default: the codec\'s)')
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        '--batch',
        type=int,
        default=1,
        help='fixed batch size of the graph (default 1)')
    g.add_argument(
        '--dynamic-batch',
        action='store_true',
        help='symbolic batch dimension')
    p.add_argument(
        '--opset', type=int, default=None, help='ONNX opset (default 17)')
    p.add_argument(
        '--atol',
        type=float,
        default=None,
        help='absolute tolerance of the check (default 1e-4)')
    p.add_argument(
        '--rtol',
        type=float,
        default=None,
        help='tolerance relative to the largest PyTorch value of '
        'each output (default 1e-3)')
    p.add_argument(
        '--images',
        default=None,
        help='folder of real images for the check (default: the '
        'MPII sample images); whole-image boxes')
    p.add_argument(
        '--num-random',
        type=int,
        default=2,
        help='random crops in the check (default 2)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import torch

        import sadinet_mmpose  # noqa: F401  (registries, mmcv-lite)
        from sadinet_mmpose.deploy import export as ex
    except ImportError as e:
        print(
            f'error: the exporter needs the training stack: {e}',
            file=sys.stderr)
        return 2
    opset = args.opset or ex.DEFAULT_OPSET
    atol = ex.DEFAULT_ATOL if args.atol is None else args.atol
    rtol = ex.DEFAULT_RTOL if args.rtol is None else args.rtol
    size = None if args.input_size is None else (args.input_size[1],
                                                 args.input_size[0])
    image_dir = args.images or ex.default_image_dir(REPO)
    try:
        out = osp.abspath(args.out)
        for name, path in (('checkpoint', args.checkpoint), ('config',
                                                             args.config)):
            if osp.exists(path) and osp.abspath(path) == out:
                raise ex.ExportError(f'--out {args.out} is the {name}; '
                                     'give another --out')
        if osp.exists(out):
            raise ex.ExportError(
                f'--out {args.out} exists; it is not '
                'overwritten: give another --out or remove it')
        if args.batch < 1:
            raise ex.ExportError(f'--batch must be >= 1, got {args.batch}')
        if args.num_random < 1:
            raise ex.ExportError('--num-random must be >= 1')
        if args.images and not osp.isdir(args.images):
            raise ex.ExportError(f'--images {args.images} is not a folder')
        images = ex.list_images(image_dir) if image_dir else []
        if args.images and not images:
            raise ex.ExportError(f'--images {args.images} holds no jpg/png')
        ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
        model = ex.load_model(args.config, ckpt)
        ex.describe(model, size)  # bad configs stop before the export
        t0 = time.perf_counter()
        meta = ex.export_onnx(
            model,
            args.out,
            batch=args.batch,
            dynamic_batch=args.dynamic_batch,
            input_size=size,
            opset=opset,
            extra_metadata=dict(
                config=osp.basename(args.config),
                checkpoint=osp.basename(args.checkpoint)))
        t_export = time.perf_counter() - t0
        w, h = meta['input_size']
        rng = torch.Generator().manual_seed(0)
        checks = [('random',
                   torch.randn(args.num_random, 3, h, w,
                               generator=rng).numpy())]
        if images:
            checks.append(
                (f'{len(images)} images', ex.image_inputs(model, images)))
    except ex.ExportError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    mb = osp.getsize(args.out) / 2**20
    batch = 'dynamic' if args.dynamic_batch else args.batch
    print(f'exported {args.out} ({mb:.1f} MiB, opset {opset}, batch {batch}, '
          f"input {h}x{w}, outputs {', '.join(meta['outputs'])}) in "
          f'{t_export:.1f} s')
    print(f'check: ONNX Runtime (CPU) vs PyTorch, pass if max |diff| <= '
          f'{atol:g} + {rtol:g} * max |PyTorch| per output; '
          f'{args.num_random} random crops' +
          (f', {len(images)} images of {image_dir} (whole-image boxes)'
           if images else ', no images'))
    ok = True
    for name, inputs in checks:
        report = ex.compare(model, args.out, inputs, atol, rtol)
        for out, r in report.items():
            ok &= r['ok']
            print(f"  {name:<9s} {out:<9s} max diff {r['max_abs_diff']:.3g}"
                  f" (max |value| {r['max_abs_ref']:.3g}, tolerance "
                  f"{r['tolerance']:.3g}) {'ok' if r['ok'] else 'FAIL'}")
    worst = 'passed' if ok else 'FAILED: above tolerance'
    print(f'parity {worst}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
