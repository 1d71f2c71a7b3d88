"""benchmarks/profile_step.py on CPU with tiny SADI-Net and stock configs."""
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from helpers import BENCHMARKS, load_tool  # noqa: E402
from tiny_configs import (  # noqa: E402
    SADINET_CODEC,
    SADINET_MODEL,  # noqa: E402
    model_only_config)

TINY_SADINET = model_only_config(SADINET_CODEC, SADINET_MODEL)


@pytest.fixture(scope='module')
def tool():
    return load_tool('profile_step.py', BENCHMARKS)


def test_categories(tool):
    cat = tool.categorize
    assert cat('void cudnn::engines_precompiled::nchwToNhwcKernel<float>') \
        == 'layout conversion'
    assert cat('sm90_xmma_wgrad_indexed_implicit_gemm_f32f32') == \
        'convolution'
    assert cat('void cudnn::bn_bw_1C11_kernel_new<float>') == 'batch norm'
    assert cat('void at::native::upsample_bilinear2d_out_frame') == 'resize'
    assert cat('Memcpy DtoH (Device -> Pageable)') == 'copy'
    assert cat('void at::native::vectorized_elementwise_kernel<4>') == \
        'element-wise'
    assert cat('something else') == 'other'


@pytest.mark.parametrize('infer', [False, True])
def test_profiles_a_tiny_sadinet_on_cpu(tool, tmp_path, capsys, infer):
    cfg = tmp_path / 'tiny_sadinet.py'
    cfg.write_text(TINY_SADINET)
    out = tmp_path / 'profile.md'
    argv = [
        '--configs', f'tiny={cfg}', '--device', 'cpu', '--batch', '2',
        '--warmup', '1', '--steps', '1', '--rows', '5', '--out',
        str(out)
    ]
    assert tool.main(argv + (['--infer'] if infer else [])) == 0
    text = out.read_text()
    kind = 'inference call' if infer else 'training step'
    assert f'ms per {kind}' in text and '## tiny' in text
    assert f'PyTorch operations per {kind}' in text
    assert '| category | ms per step | share |' in text
    assert '| convolution |' in text and '| total |' in text
    assert '## tiny' in capsys.readouterr().out


def test_count_operations_counts_calls_from_python_only(tool):
    import torch
    x = torch.randn(4, 4)
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        y = x + 1  # aten::add
        y = torch.nn.functional.linear(y, x)  # aten::linear (calls others)
        y.sum()  # aten::sum
    assert tool.count_operations(prof) == 3


def test_bad_mode_and_missing_config_are_one_line_errors(tool, tmp_path):
    with pytest.raises(SystemExit, match=r"--mode: mode 'int8': unknown"):
        tool.main(['--device', 'cpu', '--mode', 'int8'])
    missing = tmp_path / 'missing.py'
    with pytest.raises(
            SystemExit, match=r'error: x: config not found: .*missing.py'):
        tool.main(['--device', 'cpu', '--configs', f'x={missing}'])
    with pytest.raises(SystemExit, match=r'--parts .* with --infer'):
        tool.main(['--device', 'cpu', '--infer', '--parts'])


def test_a_failing_config_is_a_line_in_the_report(tool, tmp_path, capsys):
    """Batch 1 cannot train batch norm over 1x1 maps: the config's section
    says so in one line, the exit code is 1, no traceback."""
    cfg = tmp_path / 'tiny_sadinet.py'
    cfg.write_text(TINY_SADINET)
    out = tmp_path / 'profile.md'
    rc = tool.main([
        '--configs', f'tiny={cfg}', '--device', 'cpu', '--batch', '1',
        '--warmup', '1', '--steps', '1', '--out',
        str(out)
    ])
    assert rc == 1
    text = out.read_text()
    assert '## tiny' in text
    assert 'error: ValueError: Expected more than 1 value per channel' in text


def test_dispatch_counter_counts_views_apart(tool):
    import torch
    x = torch.randn(4, 4, requires_grad=True)
    with tool.DispatchCounter() as counter:
        y = (x.t() + 1).sum()  # t (view), add, sum
        y.backward()  # ones_like, expand (view), t (view) ... of the backward
    assert counter.ops >= 5 and 2 <= counter.views < counter.ops


def _parts_rows(text):
    section = text.split('by part')[1].split('###')[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 3 and cells[1].replace(',', '').isdigit():
            rows[cells[0]] = (int(cells[1].replace(',', '')),
                              int(cells[2].replace(',', '')))
    return rows


def _profile_parts(tool, tmp_path, mode):
    """The report of a tiny SADI-Net with ``--parts`` in ``mode``."""
    cfg = tmp_path / 'tiny_sadinet.py'
    cfg.write_text(TINY_SADINET)
    out = tmp_path / 'profile.md'
    assert tool.main([
        '--configs', f'tiny={cfg}', '--device', 'cpu', '--batch', '2',
        '--warmup', '1', '--steps', '1', '--rows', '3', '--parts', '--mode',
        mode, '--out',
        str(out)
    ]) == 0
    return out.read_text()


def test_parts_split_one_step_of_a_tiny_sadinet(tool, tmp_path):
    rows = _parts_rows(_profile_parts(tool, tmp_path, 'fp32'))
    parts = ('backbone', 'neck', 'head + loss',
             'optimizer (+ clip, zero_grad)')
    assert set(rows) == set(parts) | {'total'}
    assert all(rows[p][0] > rows[p][1] >= 0 for p in parts[:3]), \
        f'every part of SADI-Net dispatches operations: {rows}'
    assert rows['total'][0] == sum(rows[p][0] for p in parts)
    assert rows['total'][1] == sum(rows[p][1] for p in parts)
