"""The wheel (``pip install .``) holds the whole package and works alone.

The wheel is built offline from a copy of the source (nothing is written into
the checkout), installed into a temporary target, and used from a fresh
Python that sees the target and the environment's third-party packages but
not the source tree: it builds ``LSPDataset`` on a generated two-record
annotation, the config's codec and the full SADI-Net model, and runs the
model once.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'sadinet',
                  'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py')

# Run with ``python -S``: no site-packages .pth files, so neither the
# editable install's finder nor anything else can bring in the checkout.
USE_INSTALLED = textwrap.dedent('''
    import json
    import os.path as osp
    import sys

    target, repo, data_root, config = sys.argv[1:5]
    import sadinet_mmpose
    assert osp.realpath(sadinet_mmpose.__file__).startswith(
        osp.realpath(target) + osp.sep), sadinet_mmpose.__file__
    # no other folder on the path holds the package (the checkout's root)
    others = [p for p in sys.path
              if osp.isdir(osp.join(p or '.', 'sadinet_mmpose'))
              and osp.realpath(p or '.') != osp.realpath(target)]
    assert not others, f'another sadinet_mmpose on sys.path: {others}'
    assert osp.realpath(repo) not in {osp.realpath(p or '.') for p in sys.path}

    import numpy as np
    import torch
    from mmengine.config import Config
    from mmpose.registry import DATASETS, KEYPOINT_CODECS, MODELS
    from mmpose.utils import register_all_modules
    register_all_modules()

    dataset = DATASETS.build(dict(
        type='LSPDataset', data_root=data_root, ann_file='tiny.json',
        data_prefix=dict(img='images/'), pipeline=[], test_mode=True))
    item = dataset[0]

    cfg = Config.fromfile(config)
    codec = KEYPOINT_CODECS.build(cfg.codec)
    w, h = cfg.codec['input_size']
    keypoints = np.full((1, 16, 2), [w / 2, h / 2], dtype=np.float32)
    encoded = codec.encode(keypoints, np.ones((1, 16), dtype=np.float32))

    model = MODELS.build(cfg.model)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, h, w))
    print(json.dumps(dict(
        package=sadinet_mmpose.__file__,
        dataset_len=len(dataset),
        num_keypoints=dataset.metainfo['num_keypoints'],
        keypoint_names=[dataset.metainfo['keypoint_id2name'][i]
                        for i in (0, 13)],
        item_keypoints=list(item['keypoints'].shape),
        codec=type(codec).__name__,
        heatmaps=list(encoded['heatmaps'].shape),
        model=type(model).__name__,
        backbone=type(model.backbone).__name__,
        params=sum(p.numel() for p in model.parameters()),
        feats=[list(f.shape) for f in feats])))
''')

# not part of the source: byte code, hidden files (editors' temporaries)
IGNORED = ('__pycache__', '*.pyc', '*.pyo', '.*')


def package_files(root: str) -> set:
    """Files under ``root/sadinet_mmpose``, relative to root."""
    found = set()
    for folder, dirs, files in os.walk(osp.join(root, 'sadinet_mmpose')):
        dirs[:] = [
            d for d in dirs if d != '__pycache__' and not d.startswith('.')
        ]
        found.update(
            osp.relpath(osp.join(folder, f), root).replace(os.sep, '/')
            for f in files
            if not f.endswith(('.pyc', '.pyo')) and not f.startswith('.'))
    return found


def write_tiny_lsp(root: str) -> None:
    """Two LSP records (14 joints) and their images under ``root``."""
    import cv2
    import numpy as np
    os.makedirs(osp.join(root, 'images'))
    joints = (np.linspace(10, 90, 28).reshape(14, 2)).tolist()
    records = []
    for i in range(2):
        name = f'im{i + 1:04d}.jpg'
        cv2.imwrite(
            osp.join(root, 'images', name),
            np.full((100, 100, 3), 128, np.uint8))
        records.append(
            dict(
                image=name,
                joints=joints,
                joints_vis=[1] * 14,
                bbox=[5, 5, 95, 95]))
    with open(osp.join(root, 'tiny.json'), 'w') as f:
        json.dump(records, f)


@pytest.mark.slow
def test_wheel_installs_and_builds_dataset_codec_model(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for name in ('setup.py', 'README.md', 'LICENSE'):
        shutil.copy(osp.join(REPO, name), src / name)
    shutil.copytree(
        osp.join(REPO, 'sadinet_mmpose'),
        src / 'sadinet_mmpose',
        ignore=shutil.ignore_patterns(*IGNORED))
    wheels = tmp_path / 'wheels'
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '--no-index', '--disable-pip-version-check',
        '-q', '-w',
        str(wheels),
        str(src)
    ],
                          capture_output=True,
                          text=True,
                          cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, f'pip wheel failed:\n{proc.stderr[-3000:]}'
    (wheel, ) = wheels.glob('sadinet_mmpose-*.whl')

    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(package_files(str(src)) - names)
    assert not missing, f'files of the package not in the wheel: {missing}'
    assert 'sadinet_mmpose/datasets/metainfo/lsp.py' in names
    assert any(n.endswith('.dist-info/licenses/LICENSE') for n in names), \
        'LICENSE not in the wheel'

    target = tmp_path / 'target'
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index',
        '--disable-pip-version-check', '-q', '--target',
        str(target),
        str(wheel)
    ],
                          capture_output=True,
                          text=True,
                          cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, f'pip install failed:\n{proc.stderr[-3000:]}'

    data_root = tmp_path / 'lsp'
    write_tiny_lsp(str(data_root))
    third_party = {sysconfig.get_paths()[k] for k in ('purelib', 'platlib')}
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['PYTHONPATH'] = os.pathsep.join([str(target), *sorted(third_party)])
    run_dir = tmp_path / 'elsewhere'
    run_dir.mkdir()
    proc = subprocess.run([
        sys.executable, '-S', '-c', USE_INSTALLED,
        str(target), REPO,
        str(data_root), CONFIG
    ],
                          capture_output=True,
                          text=True,
                          cwd=run_dir,
                          env=env,
                          timeout=600)
    assert proc.returncode == 0, \
        f'the installed package failed:\n{proc.stderr[-5000:]}'
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['package'].startswith(str(target)), result['package']
    assert result['dataset_len'] == 2 and result['num_keypoints'] == 14, result
    assert result['keypoint_names'] == ['right_ankle', 'head_top'], result
    assert result['item_keypoints'] == [1, 14, 2], result
    assert (result['codec'], result['heatmaps']) == ('FlowHeatmapCodec',
                                                     [16, 64, 64]), result
    assert (result['model'], result['backbone']) == ('MSTopdownPoseEstimator',
                                                     'RFMHourglass'), result
    assert result['params'] > 100e6, result
    # backbone + neck: the last output is SFM's pooled vector f
    assert result['feats'][-1] == [1, 2048], result
