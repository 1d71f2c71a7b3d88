"""``tools/deploy/export_onnx.py``: the graph, the parity check, bad input.

The tiny SADI-Net of ``conftest.py`` is exported once (dynamic batch); the
full MPII config, a mixing config with the DLM head and MMPose's own
Hourglass-52 export with random weights in the slow tests.
"""
import os.path as osp

import numpy as np
import pytest
import torch

from helpers import REPO  # noqa: E402
from tiny_configs import STOCK_MODEL  # noqa: E402
from tiny_configs import STOCK_CODEC, model_only_config

import sadinet_mmpose  # noqa: F401  isort: skip


def test_export_writes_named_outputs_and_metadata(tiny_onnx, capsys):
    import onnx

    from sadinet_mmpose.deploy import read_metadata
    assert tiny_onnx.rc == 0, 'export_onnx.py failed on the tiny model'
    proto = onnx.load(tiny_onnx.path)
    assert [i.name for i in proto.graph.input] == ['input']
    assert [o.name for o in proto.graph.output] == \
        ['heatmaps', 'mu', 'sigma'], 'outputs are not named as documented'
    assert proto.opset_import[0].version == 17, 'opset is not the stated 17'
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == 'batch', '--dynamic-batch left a fixed batch'
    meta = read_metadata(tiny_onnx.path)
    assert meta['num_keypoints'] == 16 and meta['input_size'] == [64, 64] \
        and meta['heatmap_size'] == [16, 16], meta
    assert meta['flip_test'] and not meta['shift_heatmap'] and \
        meta['flip_indices'][:2] == [5, 4], 'MPII flip settings not stored'
    assert meta['heatmap_grid'] == 'centre', 'FlowHeatmapCodec\'s grid'
    assert meta['refine'] == 'dark' and meta['bbox_padding'] == 1.25


def test_cli_prints_max_difference_and_passes(tiny_onnx_b3):
    text = tiny_onnx_b3.text
    assert tiny_onnx_b3.rc == 0, text
    assert 'opset 17, batch 3' in text and 'parity passed' in text, text
    rows = [line for line in text.splitlines() if 'max diff' in line]
    # random + 5 images, three outputs each
    assert len(rows) == 6 and all(r.endswith(' ok') for r in rows), text
    diffs = [float(r.split('max diff ')[1].split()[0]) for r in rows]
    assert max(diffs) < 1e-4, f'ORT vs PyTorch differ by {max(diffs)}'


def test_cli_exits_1_above_tolerance(trained_tiny, export_tool, tmp_path,
                                     capsys):
    """A tolerance below float32 rounding must fail the check (exit 1)."""
    out = str(tmp_path / 'strict.onnx')
    rc = export_tool.main([
        trained_tiny.cfg, trained_tiny.ckpt, '--out', out, '--atol', '0',
        '--rtol', '0', '--num-random', '1', '--images',
        osp.join(trained_tiny.data, 'images')
    ])
    text = capsys.readouterr().out
    assert rc == 1 and 'FAIL' in text and 'parity FAILED' in text, text


def _bad(export_tool, capsys, *argv) -> str:
    rc = export_tool.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2, f'{argv}: exit {rc}, stderr {err!r}'
    assert err.startswith('error: ') and '\n' not in err, \
        f'{argv}: not a one-line error: {err!r}'
    return err


def test_bad_input_is_a_one_line_error(trained_tiny, export_tool, tmp_path,
                                       capsys):
    out = str(tmp_path / 'x.onnx')
    cfg, ckpt = trained_tiny.cfg, trained_tiny.ckpt
    # a checkpoint of another model: the stock ResNet-18 tiny model
    stock_cfg = tmp_path / 'stock.py'
    stock_cfg.write_text(model_only_config(STOCK_CODEC, STOCK_MODEL))
    from mmpose.apis import init_model
    stock = init_model(str(stock_cfg), None, device='cpu')
    stock_ckpt = tmp_path / 'stock.pth'
    torch.save({'state_dict': stock.state_dict(), 'meta': {}}, stock_ckpt)
    err = _bad(export_tool, capsys, cfg, stock_ckpt, '--out', out)
    assert 'does not fit the config' in err and 'missing' in err, err
    # the same model with one layer of another width
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    w = state['state_dict']['head.mu_fc.weight']
    state['state_dict']['head.mu_fc.weight'] = w[:, :8]
    narrow = tmp_path / 'narrow.pth'
    torch.save(state, narrow)
    err = _bad(export_tool, capsys, cfg, narrow, '--out', out)
    assert '1 shape mismatches' in err and 'head.mu_fc.weight' in err, err
    err = _bad(export_tool, capsys, cfg, tmp_path / 'nope.pth', '--out', out)
    assert 'does not exist' in err, err
    (tmp_path / 'junk.pth').write_bytes(b'junk')
    err = _bad(export_tool, capsys, cfg, tmp_path / 'junk.pth', '--out', out)
    assert 'cannot be read' in err, err
    err = _bad(export_tool, capsys, cfg, ckpt, '--out', out, '--input-size',
               '128', '96')
    assert 'input size 128x96' in err and 'crops 64x64' in err, err
    err = _bad(export_tool, capsys, cfg, ckpt, '--out', out, '--batch', '0')
    assert '--batch' in err, err
    err = _bad(export_tool, capsys, tmp_path / 'none.py', ckpt, '--out', out)
    assert 'does not exist' in err, err
    assert not osp.exists(out), 'a bad input still wrote an ONNX file'


def test_head_that_cannot_be_exported_is_named(export_tool, tmp_path, capsys):
    """A regression head (RLE) and a config whose decoding needs the flow."""
    rle = model_only_config(
        "dict(type='RegressionLabel', input_size=(64, 64))",
        STOCK_MODEL.replace(
            "head=dict(type='HeatmapHead', in_channels=512, out_channels=16,\n"
            "              deconv_out_channels=(32, 32, 32), "
            "deconv_kernel_sizes=(4, 4, 4),\n"
            "              loss=dict(type='KeypointMSELoss', "
            "use_target_weight=True), decoder=codec)",
            "neck=dict(type='GlobalAveragePooling'), head=dict(type='RLEHead',"
            " in_channels=512, num_joints=16, decoder=codec)"))
    assert 'RLEHead' in rle, 'stock model text changed: update this test'
    (tmp_path / 'rle.py').write_text(rle)
    err = _bad(export_tool, capsys, tmp_path / 'rle.py', 'none', '--out',
               tmp_path / 'rle.onnx')
    assert 'head RLEHead cannot be exported' in err and 'DLMHead' in err, err


def test_blend_decoding_is_refused(trained_tiny, tmp_path):
    from mmengine.config import Config

    from sadinet_mmpose.deploy.export import ExportError, describe, load_model
    cfg = Config.fromfile(trained_tiny.cfg)
    cfg.model.test_cfg['decode_source'] = 'blend'
    with pytest.raises(ExportError, match="decode_source='blend' needs H2"):
        describe(load_model(cfg))


# ----------------------------------------------------------------------
# full-size models, random weights: export + parity only
# ----------------------------------------------------------------------
FULL_CONFIGS = [
    osp.join(REPO, 'configs', 'sadinet',
             'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py'),
    osp.join(REPO, 'configs', 'mixing',
             'td-hm_hrnet-w32-sfm-dlm_8xb64-210e_mpii-256x256.py'),
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
    'td-hm_hourglass52_8xb64-210e_mpii-256x256.py',
]


@pytest.mark.slow
@pytest.mark.parametrize(
    'config',
    FULL_CONFIGS,
    ids=['sadinet-mpii', 'hrnet-sfm-dlm', 'hourglass52'])
def test_full_model_exports_with_parity(config, tmp_path):
    from sadinet_mmpose.deploy import OnnxPoseEstimator
    from sadinet_mmpose.deploy.export import (compare, export_onnx,
                                              image_inputs, load_model)
    model = load_model(config)
    out = str(tmp_path / 'full.onnx')
    meta = export_onnx(model, out, dynamic_batch=True)
    est = OnnxPoseEstimator(out, num_keypoints=16, input_size=(256, 256))
    dlm = type(model.head).__name__ == 'DLMHead'
    assert est.output_names == (['heatmaps', 'mu', 'sigma']
                                if dlm else ['heatmaps']), est.output_names
    image = sorted(
        osp.join(REPO, 'tests', 'data', 'mpii_sample', 'images', f)
        for f in ('004645041.jpg', ))
    inputs = np.concatenate([
        torch.randn(
            1, 3, 256, 256,
            generator=torch.Generator().manual_seed(0)).numpy(),
        image_inputs(model, image)
    ])
    report = compare(model, out, inputs)
    bad = {k: v for k, v in report.items() if not v['ok']}
    assert not bad, f'{osp.basename(config)}: ORT vs PyTorch above ' \
        f'tolerance: {bad}'
    if 'sadinet' in config:
        assert meta['scales'] == [0.75, 0.875, 1.0, 1.125, 1.25, 1.375], \
            'the multi-scale test of the config was not exported'


def test_out_never_overwrites_a_file(trained_tiny, export_tool, tmp_path,
                                     capsys):
    import hashlib
    import shutil
    victim = tmp_path / 'victim.pth'
    shutil.copy(trained_tiny.ckpt, victim)
    digest = hashlib.sha256(victim.read_bytes()).hexdigest()
    err = _bad(export_tool, capsys, trained_tiny.cfg, victim, '--out', victim)
    assert 'is the checkpoint' in err, err
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == digest
    earlier = tmp_path / 'earlier.onnx'
    earlier.write_bytes(b'an earlier export')
    err = _bad(export_tool, capsys, trained_tiny.cfg, victim, '--out', earlier)
    assert 'exists' in err and 'earlier.onnx' in err, err
    assert earlier.read_bytes() == b'an earlier export'


def test_metadata_says_whether_the_calibration_holds(trained_tiny):
    """The exported factors are the fit's where it was made under the
    exported test settings, ones (and ``sigma_calibrated`` false) where
    not."""
    import warnings

    from sadinet_mmpose.deploy.export import describe, load_model
    from sadinet_mmpose.evaluation.functional import encode_conditions
    model = load_model(trained_tiny.cfg, trained_tiny.ckpt)
    head = model.head
    assert describe(model)['sigma_calibrated'] is False
    head.calibration.factors.fill_(0.5)
    head.calibration.fit_conditions.copy_(
        torch.from_numpy(encode_conditions(model.test_cfg)))
    meta = describe(model)
    assert meta['sigma_calibrated'] is True
    assert meta['sigma_calibration'] == [0.5] * head.out_channels
    head.calibration.fit_conditions.copy_(
        torch.from_numpy(
            encode_conditions(
                dict(
                    model.test_cfg,
                    flip_test=not model.test_cfg['flip_test']))))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        meta = describe(model)
    assert meta['sigma_calibrated'] is False
    assert meta['sigma_calibration'] == [1.0] * head.out_channels
