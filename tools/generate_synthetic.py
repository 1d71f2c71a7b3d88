#!/usr/bin/env python
"""Generate the synthetic pose data set (MPII or LSP format).

    python tools/generate_synthetic.py data/synthetic_mpii          # train+val
    python tools/generate_synthetic.py data/synthetic_lsp --skeleton lsp
    python tools/generate_synthetic.py OUT --splits train --num-images 5000 \
        --image-size 128 --difficulty standard --seed 0

The datasets ``SyntheticMpiiDataset`` / ``SyntheticLSPDataset`` do this on
first use; this tool is for generating ahead of time or for measuring speed.
Each split goes to ``OUT/<split>/`` with a manifest; an existing split with the
same parameters is reused, one with other parameters is an error.
"""
import argparse
import os.path as osp
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Generate synthetic pose data.')
    p.add_argument('out', help='root folder; splits go to OUT/<split>/')
    p.add_argument('--skeleton', choices=['mpii', 'lsp'], default='mpii')
    p.add_argument('--splits', nargs='+', default=['train', 'val'],
                   choices=['train', 'val', 'test'])
    p.add_argument('--num-images', type=int, default=None,
                   help='images per split (default: train 2000, val/test 300)')
    p.add_argument('--image-size', type=int, nargs='+', default=[128],
                   help='W [H] (default 128)')
    p.add_argument('--difficulty', choices=['easy', 'standard'],
                   default='easy')
    p.add_argument('--seed', type=int, default=0,
                   help='base seed; split seeds are train 0, val 1, test 2 '
                   'plus 1000 * seed')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
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
                osp.join(args.out, split), num_images=n, image_size=size,
                difficulty=args.difficulty,
                seed=default_split_seed(split, args.seed),
                skeleton=args.skeleton)
        except (OSError, ValueError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        dt = time.perf_counter() - t0
        print(f'{osp.join(args.out, split)}: {m["num_images"]} images '
              f'{m["image_size"]} {m["difficulty"]} seed {m["seed"]}; '
              f'{dt:.1f} s (generation {m.get("images_per_s")} images/s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
