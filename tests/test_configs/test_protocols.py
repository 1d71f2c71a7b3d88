"""The protocols the configs state: training augmentation written out, the
paper's test (flip + six scales, H1), and MMPose's zoo test (single scale +
flip) reached from any MPII config by one documented ``--cfg-options``."""
import argparse
import glob
import inspect
import os.path as osp

import pytest
from mmengine.config import Config, DictAction  # noqa: E402
from mmpose.datasets.transforms import RandomBBoxTransform  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SADINET = osp.join(REPO, 'configs', 'sadinet')
MPII = osp.join(SADINET,
                'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py')
LSP = osp.join(SADINET, 'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_lsp-256x256.py')
PAPER_SCALES = [0.75, 0.875, 1.0, 1.125, 1.25, 1.375]
#: The zoo protocol, exactly as docs/data.md gives it to tools/test.py.
ZOO_OPTIONS = ['model.test_cfg.multiscale_test.scales=[1.0]']
MPII_CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '*', '**', '*.py'), recursive=True)
    if '_base_' not in p and '_mpii-' in osp.basename(p)
    and '/synthetic/' not in p)


def _flip_shift_fits_the_codec(cfg):
    """The flip test's shift matches the head codec's grid: none for
    FlowHeatmapCodec's pixel-centre grid, MMPose's one-pixel shift for
    MSRAHeatmap's ``u * W / w`` grid."""
    tc = cfg.model.test_cfg
    codec = cfg.model.head.decoder.type
    if codec == 'FlowHeatmapCodec':
        return not tc.get('shift_heatmap', False) and \
            not tc.get('shift_coords', True)
    return bool(tc.get('shift_heatmap', False))


def _train_pipeline(cfg):
    ds = cfg.train_dataloader.dataset
    return ds.pipeline


def _step(pipeline, type_):
    steps = [t for t in pipeline if t['type'] == type_]
    assert len(steps) == 1, (type_, pipeline)
    return steps[0]


@pytest.mark.parametrize(
    'path',
    [
        MPII, LSP,
        osp.join(REPO, 'configs', 'mixing',
                 'td-hm_hrnet-w32-sfm-dlm_8xb64-210e_mpii-256x256.py')
    ] + sorted(glob.glob(osp.join(SADINET, 'ablations', '*.py'))),
    ids=osp.basename)
def test_training_augmentation_is_written_out(path):
    """Every RandomBBoxTransform argument is in the config, with MMPose's
    values (the choice docs/data.md states): no default applies silently."""
    t = _step(_train_pipeline(Config.fromfile(path)), 'RandomBBoxTransform')
    params = inspect.signature(RandomBBoxTransform.__init__).parameters
    args = [n for n in params if n != 'self']
    assert sorted(set(t) - {'type'}) == sorted(args)
    want = {n: params[n].default for n in args}
    want['shift_prob'] = 0.
    assert {
        n: (tuple(t[n]) if n == 'scale_factor' else t[n])
        for n in args
    } == want


@pytest.mark.parametrize('path', [MPII, LSP], ids=osp.basename)
def test_paper_test_protocol(path):
    cfg = Config.fromfile(path)
    tc = cfg.model.test_cfg
    assert tc.flip_test and tc.flip_mode == 'heatmap'
    assert _flip_shift_fits_the_codec(cfg)
    assert tc.get('decode_source', 'h1') == 'h1'
    assert list(tc.multiscale_test.scales) == PAPER_SCALES
    ms = _step(cfg.test_dataloader.dataset.pipeline, 'MultiScaleTopdownAffine')
    assert list(ms['scales']) == PAPER_SCALES
    assert cfg.model.head.decoder.type == 'FlowHeatmapCodec'


def _with_cli_options(path, options):
    """The config as MMPose's tools/test.py builds it with --cfg-options."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', *options])
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(args.cfg_options)
    return cfg


@pytest.mark.parametrize(
    'path', MPII_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_zoo_protocol_override_gives_single_scale_and_flip(path):
    assert len(MPII_CONFIGS) >= 9
    cfg = _with_cli_options(path, ZOO_OPTIONS)
    tc = cfg.model.test_cfg
    assert tc.flip_test and tc.flip_mode == 'heatmap'
    assert _flip_shift_fits_the_codec(cfg)
    assert list(tc.multiscale_test.scales) == [1.0]
    # the estimator's own reading of it: one scale, the plain prediction
    if cfg.model.type == 'MSTopdownPoseEstimator':
        from sadinet_mmpose.models.pose_estimators import parse_multiscale_cfg
        assert parse_multiscale_cfg(dict(tc), None)['scales'] == [1.0]
    # the main crop of the test pipeline is TopdownAffine's
    first = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if 'TopdownAffine' in t['type']
    ]
    assert len(first) == 1 and not first[0].get('use_udp', False)
