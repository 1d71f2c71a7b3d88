#!/usr/bin/env python
"""Convert the original LSP / LSPET releases to sadinet's LSP JSON.

    python tools/convert_lsp.py data/lsp                      # both releases
    python tools/convert_lsp.py data/lsp --no-lspet           # LSP only
    python tools/convert_lsp.py data/lsp --out-dir data/lsp/annotations \
        --box-margin 0.1

``DATA_ROOT`` holds the unpacked archives ``lsp_dataset/`` (joints.mat
(3, 14, 2000), images/im0001.jpg ...) and ``lspet_dataset/`` (joints.mat
(14, 3, 10000), images/im00001.jpg ...). Writes ``lsp_train.json`` (images
1-1000), ``lsp_test.json`` (1001-2000) and ``lspet_train.json`` to
``--out-dir`` (default ``DATA_ROOT/annotations``). See docs/data.md.
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        allow_abbrev=False,
        description='Convert LSP/LSPET joints.mat to sadinet LSP JSON.')
    p.add_argument(
        'data_root', help='folder with lsp_dataset/ and/or '
        'lspet_dataset/')
    p.add_argument(
        '--out-dir',
        default=None,
        help='output folder (default: DATA_ROOT/annotations)')
    p.add_argument(
        '--lsp-dir',
        default='lsp_dataset',
        help='LSP folder name under DATA_ROOT')
    p.add_argument(
        '--lspet-dir',
        default='lspet_dataset',
        help='LSPET folder name under DATA_ROOT')
    p.add_argument('--no-lsp', action='store_true', help='skip LSP')
    p.add_argument('--no-lspet', action='store_true', help='skip LSPET')
    p.add_argument(
        '--box-margin',
        type=float,
        default=0.1,
        help='box margin per side, fraction of the longer side '
        'of the joint box (default 0.1)')
    p.add_argument(
        '--lsp-occluded',
        choices=['labelled', 'unlabelled'],
        default='labelled',
        help="LSP's occluded joints: keep them as labels "
        '(default, the standard protocol) or mark them unlabelled')
    p.add_argument(
        '--skip-image-check',
        action='store_true',
        help='do not check that every image file exists')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from sadinet_mmpose.datasets.lsp_convert import (convert_lsp,
                                                     write_documents)
    if not osp.isdir(args.data_root):
        print(
            f'error: DATA_ROOT {args.data_root!r} is not a folder',
            file=sys.stderr)
        return 2
    lsp_dir = None if args.no_lsp else args.lsp_dir
    lspet_dir = None if args.no_lspet else args.lspet_dir
    for name, d in (('LSP', lsp_dir), ('LSPET', lspet_dir)):
        if d and not osp.isfile(osp.join(args.data_root, d, 'joints.mat')):
            print(
                f'error: {name}: {osp.join(args.data_root, d, "joints.mat")}'
                f' not found (use --no-{name.lower()} to skip {name})',
                file=sys.stderr)
            return 2
    try:
        docs = convert_lsp(
            args.data_root,
            lsp_dir=lsp_dir,
            lspet_dir=lspet_dir,
            margin=args.box_margin,
            occluded_as_labelled=args.lsp_occluded == 'labelled',
            check_images=not args.skip_image_check)
    except (OSError, ValueError, KeyError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    out_dir = args.out_dir or osp.join(args.data_root, 'annotations')
    for path in write_documents(docs, out_dir):
        doc = docs[osp.splitext(osp.basename(path))[0]]
        skipped = sum(len(v) for v in doc['info']['skipped'].values())
        print(f'{path}: {len(doc["annotations"])} records'
              f' ({skipped} skipped)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
