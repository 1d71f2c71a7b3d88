"""Tests of benchmarks/benchmark.py on CPU with a tiny stock model.

The model is MMPose's ResNet-18 + HeatmapHead at 64x64 (tests/tiny_configs'
model), written as a config into ``tmp_path``; 1 warm-up + 1 timed step.
"""
import json
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from helpers import BENCHMARKS, load_tool  # noqa: E402
from tiny_configs import (  # noqa: E402
    STOCK_CODEC,
    STOCK_MODEL,  # noqa: E402
    model_only_config)

TINY_CONFIG = model_only_config(STOCK_CODEC, STOCK_MODEL)


@pytest.fixture(scope='module')
def tool():
    return load_tool('benchmark.py', BENCHMARKS)


@pytest.fixture
def tiny_cfg(tmp_path):
    path = tmp_path / 'tiny_r18.py'
    path.write_text(TINY_CONFIG)
    return str(path)


def test_parse_modes_and_specs(tool):
    from benchmark_utils.measure import parse_mode
    from benchmark_utils.models import parse_config_spec
    m = parse_mode('bf16+channels_last+compile')
    assert (m.name, m.precision, m.channels_last,
            m.compile) == ('bf16+cl+compile', 'bf16', True, True)
    assert parse_mode('cl').name == 'fp32+cl'
    with pytest.raises(ValueError, match='unknown part'):
        parse_mode('bf16+graph')
    with pytest.raises(ValueError, match='two precisions'):
        parse_mode('fp16+bf16')
    with pytest.raises(ValueError, match='unknown part'):
        parse_mode('int8')
    s = parse_config_spec('HG=mmpose::a/b.py')
    assert (s.label, s.config) == ('HG', 'mmpose::a/b.py')
    s = parse_config_spec('configs/x/td-hm_foo.py')
    assert (s.label, s.config) == ('td-hm_foo', 'configs/x/td-hm_foo.py')


def test_write_atomic_keeps_previous(tool, tmp_path):
    from benchmark_utils.report import write_atomic
    out = str(tmp_path / 'docs' / 'bench.md')
    assert write_atomic(out, 'one\n') is None
    assert write_atomic(out, 'one\n') is None, 'same content: nothing kept'
    assert write_atomic(out, 'two\n') == out + '.prev'
    assert open(out).read() == 'two\n'
    assert open(out + '.prev').read() == 'one\n'
    assert [
        p.name for p in (tmp_path / 'docs').iterdir()
        if p.name.endswith('.tmp')
    ] == []


def _fake_results(ladder):

    def model(label, gmacs, s_per_iter):
        train = {
            mode:
            dict(
                s_per_iter=s, img_s=64 / s, tflops=64 / s * gmacs * 6e9 / 1e12)
            for mode, s in s_per_iter.items()
        }
        return dict(label=label, status='ok', macs=gmacs * 1e9, train=train)

    return dict(
        meta=dict(ref_label='A', settings=dict(batch=64, ladder=ladder)),
        models=[
            model('A', 10, dict(fp32=0.1, bf16=0.05)),
            model('B', 15, dict(fp32=0.2, bf16=0.05)),
            model('C', 20, dict(fp32=0.25)),
            dict(label='broken', status='error')
        ])


def test_marginal_cost_table(tool):
    from benchmark_utils.report import marginal_table
    text = marginal_table(_fake_results(ladder=False))
    rows = [r for r in text.splitlines()[2:]]
    # B against A in fp32: 5 GMACs x 6 x 64 = 1.92 TFLOP in 0.1 s extra
    assert rows[0] == ('| B | A | fp32 | 5.00 | 100.0 | 19.200 | 38.400 '
                       '| 0.50 |')
    # no extra time: the added part is free
    assert rows[1].startswith('| B | A | bf16 | 5.00 | 0.0 | free')
    # C against A (not against B): 10 GMACs x 384 = 3.84 TFLOP in 0.15 s
    assert rows[2] == ('| C | A | fp32 | 10.00 | 150.0 | 25.600 | 38.400 '
                       '| 0.67 |')
    assert len(rows) == 3  # C has no bf16; the broken model is left out
    # ladder: each model against the one before it
    rows = marginal_table(_fake_results(ladder=True)).splitlines()[2:]
    assert [r.split(' | ')[:3] for r in rows] == [['| B', 'A', 'fp32'],
                                                  ['| B', 'A', 'bf16'],
                                                  ['| C', 'B', 'fp32']]
    assert rows[2].endswith('| 5.00 | 50.0 | 38.400 | 28.800 | 1.33 |')
    # a JSON without the 'ladder' setting (older runs) renders as default
    old = _fake_results(ladder=False)
    del old['meta']['settings']['ladder']
    assert marginal_table(old) == text
    # one model: nothing to set against, no table
    assert marginal_table(dict(meta=old['meta'],
                               models=old['models'][:1])) is None


@pytest.mark.slow
def test_benchmark_tiny_cpu(tool, tiny_cfg, tmp_path, capsys):
    out = tmp_path / 'bench.md'
    out.write_text('an older, different report\n')
    argv = [
        '--configs', f'tiny={tiny_cfg}', f'broken={tmp_path}/missing.py',
        '--device', 'cpu', '--batch', '2', '--input-size', '64', '--warmup',
        '1', '--iters', '1', '--train-modes', 'fp32,bf16', '--train-acc',
        'config', '--infer-modes', 'fp32', '--latency-batches', '1', '--flip',
        'both', '--latency-warmup', '1', '--latency-iters', '1',
        '--peak-tflops', '0.05', '--out',
        str(out)
    ]
    import torch
    threads = torch.get_num_threads()
    try:
        assert tool.main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # main() uses 1 thread on CPU
    text = capsys.readouterr().out
    # tables and their columns
    assert ('| model | params (M) | GMACs | infer ms b=1 fp32 | '
            'infer ms b=1 fp32 flip | status |') in text
    assert ('| model | mode | train img/s | peak RSS +GiB | train TFLOP/s | '
            'img/s vs tiny | TFLOP/s vs tiny | % of peak |') in text
    # the failing config is a row with its error, not a crash
    assert '| broken | - | - | - | - | error: FileNotFoundError' in text
    # files: markdown (old one kept) and JSON
    assert out.read_text().strip() == text.strip()
    assert (tmp_path / 'bench.md.prev').read_text().startswith('an older')
    data = json.loads((tmp_path / 'bench.json').read_text())
    tiny, broken = data['models']
    assert broken['status'] == 'error' and 'missing.py' in broken['error']
    assert tiny['status'] == 'ok' and not tiny['errors'], tiny['errors']
    assert tiny['params'] > 1e6 and tiny['macs'] > 1e7
    for key in ('b=1 fp32', 'b=1 fp32 flip'):
        assert tiny['latency'][key]['ms'] > 0
    # bf16 works on a stock head computing its accuracy (to_numpy patched)
    for mode in ('fp32', 'bf16'):
        t = tiny['train'][mode]
        assert t['img_s'] > 0 and t['tflops'] > 0 and t['finite']
        assert t['peak_gib'] >= 0
        assert t['img_s_vs_ref'] == pytest.approx(1.0)
    assert data['meta']['ref_label'] == 'tiny'  # no Hourglass-52 here
    assert tiny['best_mode'] in ('fp32', 'bf16')
    # the report can be re-rendered from the JSON alone
    capsys.readouterr()
    assert tool.main(
        ['--render-json',
         str(tmp_path / 'bench.json'), '--no-write']) == 0
    assert capsys.readouterr().out.strip() == text.strip()
    # the patch is undone after the run
    import mmpose.models.heads.heatmap_heads.heatmap_head as hh
    from mmpose.utils import tensor_utils
    assert hh.to_numpy is tensor_utils.to_numpy


@pytest.mark.slow
def test_cuda_paths_with_mocked_cuda(tool, monkeypatch):
    """Device defaults and the CUDA branches of timing / memory, on CPU."""
    import torch
    from benchmark_utils import measure
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'synchronize',
                        lambda *a, **k: calls.append('sync'))
    monkeypatch.setattr(torch.cuda, 'reset_peak_memory_stats',
                        lambda *a, **k: calls.append('reset'))
    monkeypatch.setattr(torch.cuda, 'max_memory_allocated',
                        lambda *a, **k: 3 * 2**30)
    st = tool.resolve_settings(tool.parse_args([]))
    assert st['cuda'] and st['batch'] == 64 and st['iters'] > 2
    assert st['latency_batches'] == [1, 64]
    assert [m.name for m in st['train_modes']][:3] == ['fp32', 'fp16', 'bf16']
    assert st['out'].endswith(osp.join('benchmarks', 'results', 'cuda.md'))
    assert st['json'].endswith(osp.join('benchmarks', 'results', 'cuda.json'))
    meter = measure.MemoryMeter('cuda')
    assert meter.kind == 'torch.cuda.max_memory_allocated'
    res = measure.time_train(
        lambda: torch.zeros(()),
        batch=4,
        warmup=1,
        iters=2,
        device='cuda',
        memory=meter)
    assert res['peak_gib'] == pytest.approx(3.0) and res['img_s'] > 0
    assert calls.count('reset') == 1 and calls.count('sync') >= 3
    lat = measure.time_latency(lambda: None, 1, 3, 'cuda')
    assert lat['n'] == 3 and calls.count('sync') >= 7


def test_cpu_defaults_and_bad_device(tool, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    st = tool.resolve_settings(tool.parse_args([]))
    assert not st['cuda'] and st['batch'] == 2
    assert st['out'].endswith(osp.join('benchmarks', 'results', 'cpu.md'))
    with pytest.raises(SystemExit, match='CUDA is not available'):
        tool.resolve_settings(tool.parse_args(['--device', 'cuda']))
    with pytest.raises(SystemExit, match='unknown part'):
        tool.resolve_settings(tool.parse_args(['--train-modes', 'fp8']))
