"""benchmarks/benchmark_convs.py on CPU with a tiny SADI-Net config."""
import json
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from helpers import BENCHMARKS, load_tool  # noqa: E402
from tiny_configs import (SADINET_CODEC, SADINET_MODEL,  # noqa: E402
                          model_only_config)


@pytest.fixture(scope='module')
def tool():
    return load_tool('benchmark_convs.py', BENCHMARKS)


def test_tiny_sadinet_layers_timed_in_every_form(tool, tmp_path, capsys):
    cfg = tmp_path / 'tiny_sadinet.py'
    cfg.write_text(model_only_config(SADINET_CODEC, SADINET_MODEL))
    out = tmp_path / 'convs.md'
    assert tool.main(['--config', str(cfg), '--device', 'cpu', '--batch', '1',
                      '--warmup', '0', '--iters', '1', '--out', str(out)]) == 0
    text = out.read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    data = json.loads((tmp_path / 'convs.json').read_text())
    layers = data['layers']
    dilated = [e for e in layers if max(e['key'][4]) > 1]
    plain = [e for e in layers if max(e['key'][4]) == 1]
    assert dilated and plain
    # the dilated branches of the RFM blocks: both forms timed
    for e in dilated:
        assert set(e['ms']['fp32']) == {'native', 'undilated twin'}
        assert all(ms > 0 for ms in e['ms']['fp32'].values())
    for e in plain:
        assert set(e['ms']['fp32']) == {'native'}
    # calls per step: every block's dilated conv is counted
    from mmengine.config import Config
    from mmpose.registry import MODELS
    import torch
    model = MODELS.build(Config.fromfile(str(cfg)).model)
    n_dilated = sum(1 for m in model.modules()
                    if isinstance(m, torch.nn.Conv2d) and max(m.dilation) > 1)
    assert sum(e['count'] for e in dilated) == n_dilated
    # flops of one pass: 2 x 3 x MACs
    e = plain[0]
    cin, cout, k, _, _, _, groups, _, _ = e['key']
    b = data['meta']['batch']
    want = 6 * b * cout * e['out_hw'][0] * e['out_hw'][1] * cin // groups \
        * k[0] * k[1] / 1e9
    assert e['gflop'] == pytest.approx(want)
    assert '- dilated layers, native:' in text
    assert '- dilated layers, undilated twin:' in text
    assert 'phase' not in text
    assert '| layer (in->out kernel @input, stride, dilation) |' in text


def test_bad_arguments_are_one_line_errors(tool, tmp_path):
    with pytest.raises(SystemExit, match='only precision and'):
        tool.main(['--device', 'cpu', '--modes', 'fp32+compile',
                   '--no-write'])
    with pytest.raises(SystemExit, match=r"--modes: mode 'int8': unknown"):
        tool.main(['--device', 'cpu', '--modes', 'int8', '--no-write'])
    missing = tmp_path / 'missing.py'
    with pytest.raises(SystemExit, match=r'--config: .*missing.py'):
        tool.main(['--device', 'cpu', '--config', str(missing), '--no-write'])
