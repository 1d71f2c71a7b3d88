#!/usr/bin/env python
"""Generate the synthetic pose data set (MPII or LSP format).

    python tools/generate_synthetic.py data/synthetic_mpii          # train+val
    python tools/generate_synthetic.py data/synthetic_lsp --skeleton lsp
    python tools/generate_synthetic.py OUT --splits train --num-images 5000 \
        --image-size 128 --difficulty standard --seed 0
    python tools/generate_synthetic.py data/synthetic_mpii_hard \
        --splits train val test --difficulty hard

The datasets ``SyntheticMpiiDataset`` / ``SyntheticLSPDataset`` do this on
first use; this tool is for generating ahead of time or for measuring speed.
Each split goes to ``OUT/<split>/`` with a manifest; an existing split with the
same parameters is reused, one with other parameters is an error.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from sadinet_mmpose.datasets.synthetic import DIFFICULTIES  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False, description='Generate synthetic pose data.')
    p.add_argument(
        'out',
        nargs='?',
        default=None,
        help='root folder; splits go to OUT/<split>/')
    p.add_argument(
        '--preview',
        default=None,
        metavar='PNG',
        help='only draw three images of each difficulty (seed 0) '
        'side by side into PNG, one row per difficulty')
    p.add_argument('--skeleton', choices=['mpii', 'lsp'], default='mpii')
    p.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val'],
        choices=['train', 'val', 'test'])
    p.add_argument(
        '--num-images',
        type=int,
        default=None,
        help='images per split (default: train 2000, val/test 300)')
    p.add_argument(
        '--image-size',
        type=int,
        nargs='+',
        default=[128],
        help='W [H] (default 128)')
    p.add_argument(
        '--difficulty',
        choices=list(DIFFICULTIES),
        default='easy',
        help='hard: two overlapping figures, tags.json per split '
        '(MPII skeleton only)')
    p.add_argument(
        '--seed',
        type=int,
        default=0,
        help='base seed; split seeds are train 0, val 1, test 2 '
        'plus 1000 * seed')
    return p.parse_args(argv)


def preview(path: str, size=(128, 128), per_row: int = 3) -> None:
    """Images 0..``per_row``-1 of seed 0 of every difficulty, one row each
    (the training split's generator, as the datasets draw them)."""
    import cv2
    import numpy as np

    from sadinet_mmpose.datasets.synthetic import render_figure, sample_rng
    from sadinet_mmpose.datasets.synthetic_hard import render_hard
    rows = []
    for difficulty in DIFFICULTIES:
        tiles = []
        for i in range(per_row):
            rng = sample_rng(0, i)
            img = (
                render_hard(rng, size)['img'] if difficulty == 'hard' else
                render_figure(rng, size, difficulty)['img'])
            tiles.append(
                np.pad(img, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        label = np.full((size[1] + 4, 90, 3), 255, np.uint8)
        cv2.putText(label, difficulty, (4, size[1] // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label] + tiles, 1))
    if not cv2.imwrite(path, np.concatenate(rows, 0)):
        raise IOError(f'could not write {path}')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.preview:
        preview(args.preview)
        print(f'wrote {args.preview}')
        return 0
    if args.out is None:
        print(
            'error: give OUT (the root folder) or --preview PNG',
            file=sys.stderr)
        return 2
    from sadinet_mmpose.datasets.synthetic import (default_split_seed,
                                                   ensure_split)
    from sadinet_mmpose.datasets.synthetic_dataset import DEFAULT_NUM_IMAGES
    size = args.image_size * 2 if len(args.image_size) == 1 else \
        args.image_size[:2]
    for split in args.splits:
        n = args.num_images or DEFAULT_NUM_IMAGES[split]
        t0 = time.perf_counter()
        try:
            m = ensure_split(
                osp.join(args.out, split),
                num_images=n,
                image_size=size,
                difficulty=args.difficulty,
                seed=default_split_seed(split, args.seed),
                skeleton=args.skeleton)
        except (OSError, ValueError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        dt = time.perf_counter() - t0
        persons = (f', {m["persons"]} persons ({m["images_overlapping"]} '
                   'images with two overlapping figures)'
                   if 'persons' in m else '')
        print(f'{osp.join(args.out, split)}: {m["num_images"]} images'
              f'{persons} '
              f'{m["image_size"]} {m["difficulty"]} seed {m["seed"]}; '
              f'{dt:.1f} s (generation {m.get("images_per_s")} images/s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
