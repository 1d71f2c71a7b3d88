#!/usr/bin/env python
"""Write the MPII test annotations from the official release.

    python tools/convert_mpii_test.py \
        data/mpii/annotations/mpii_human_pose_v1_u12_1.mat \
        --out-dir data/mpii/annotations

Reads ``RELEASE`` of ``mpii_human_pose_v1_u12_1.mat`` (the ``annot/`` folder
of the MPII release) and writes, to ``--out-dir`` (default: the .mat's
folder):

- ``mpii_test.json``: one record per single-person rectangle of the test
  images (``image``, ``center``, ``scale`` as MMPose's ``mpii_test.json``,
  plus the 1-based ``annolist_index`` and ``rect_index``), read by
  ``MpiiTestDataset``;
- ``mpii_test_images.json``: every test image in annolist order with its
  number of rectangles, which ``MpiiPredictionDump`` needs to write the
  ``pred`` struct the MPII evaluation reads. See docs/data.md.
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        description='MPII release .mat to MpiiTestDataset annotations.')
    p.add_argument('release', help='mpii_human_pose_v1_u12_1.mat')
    p.add_argument(
        '--out-dir',
        default=None,
        help='output folder (default: the .mat\'s folder)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from sadinet_mmpose.datasets.mpii_convert import (convert_mpii_test,
                                                      write_test_annotations)
    out_dir = args.out_dir or osp.dirname(osp.abspath(args.release))
    try:
        records, images = convert_mpii_test(args.release)
        paths = write_test_annotations(
            records, images, out_dir, source=osp.basename(args.release))
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'{paths[0]}: {len(records)} single-person records')
    print(f'{paths[1]}: {len(images)} test images, '
          f'{sum(im["num_rects"] for im in images)} rectangles')
    return 0


if __name__ == '__main__':
    sys.exit(main())
