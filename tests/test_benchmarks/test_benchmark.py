"""``benchmarks/benchmark.py``: its five modes on tiny models on the CPU, the
record schema and its renderer, the one timing loop."""
import json
import os.path as osp

import pytest

from helpers import BENCHMARKS, load_tool
from tiny_configs import (SADINET_CODEC, SADINET_MODEL, STOCK_CODEC,
                          STOCK_MODEL, model_only_config)


@pytest.fixture(scope='module')
def tool():
    return load_tool('benchmark.py', BENCHMARKS)


@pytest.fixture
def configs(tmp_path):
    stock = tmp_path / 'tiny_r18.py'
    stock.write_text(model_only_config(STOCK_CODEC, STOCK_MODEL))
    sadinet = tmp_path / 'tiny_sadinet.py'
    sadinet.write_text(model_only_config(SADINET_CODEC, SADINET_MODEL))
    return str(stock), str(sadinet)


def _run(tool, argv):
    import torch
    threads = torch.get_num_threads()
    try:
        return tool.main(argv)
    finally:
        torch.set_num_threads(threads)  # the CPU default is one thread


def test_parse_modes_and_specs(tool):
    from benchmark_utils.measure import parse_mode
    from benchmark_utils.models import parse_config_spec
    m = parse_mode('bf16+channels_last+compile')
    assert (m.name, m.precision, m.channels_last,
            m.compile) == ('bf16+cl+compile', 'bf16', True, True)
    assert parse_mode('cl').name == 'fp32+cl'
    for bad, msg in (('bf16+graph', 'unknown part'),
                     ('fp16+bf16', 'two precisions'), ('int8', 'unknown')):
        with pytest.raises(ValueError, match=msg):
            parse_mode(bad)
    s = parse_config_spec('HG=mmpose::a/b.py')
    assert (s.label, s.config) == ('HG', 'mmpose::a/b.py')
    assert parse_config_spec('configs/x/td-hm_foo.py').label == 'td-hm_foo'


def test_one_timing_loop_interleaves_and_syncs(tool):
    from benchmark_utils.measure import summary, time_calls
    calls, syncs = [], []
    times = time_calls(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
        warmup=1,
        repeats=3,
        sync=lambda: syncs.append(1))
    assert calls == ['a', 'b'] + ['a', 'b'] * 3, 'warm-up, then rounds'
    assert len(syncs) == 2 + 6 and [len(v) for v in times.values()] == [3, 3]
    s = summary([4., 1., 3., 2., 100.])
    assert s['ms'] == 3. and s['p90_ms'] == 100. and s['n'] == 5


def test_records_render_and_refuse_another_schema(tool, tmp_path):
    from benchmark_utils import records
    env = dict(
        device='cpu', threads=1, torch='t', commit='abc', command='python x')
    recs = [
        records.make_record('A', 'train', 'fp32 b2',
                            dict(img_s=2.0, peak_gib=None), env),
        records.make_record('B', 'train', 'fp32 b2', dict(error='boom'), env,
                            4)
    ]
    page = records.render(recs, 'T')
    assert '- commit: `abc`' in page and '- command: `python x`' in page
    assert '| model | setting | threads | img_s | peak_gib | error |' in page
    assert '| A | fp32 b2 | 1 | 2 | - | - |' in page
    assert '| B | fp32 b2 | 4 | - | - | boom |' in page
    path = tmp_path / 'r.json'
    path.write_text(records.dump_json(recs))
    assert records.load(str(path)) == recs
    del recs[0]['commit']
    path.write_text(json.dumps(recs))
    with pytest.raises(ValueError, match="r.json: record 0 has no 'commit'"):
        records.load(str(path))
    with pytest.raises(SystemExit, match="--render-json: .*r.json: record 0"):
        tool.main(['train', '--render-json', str(path)])


def test_write_atomic_keeps_previous(tool, tmp_path):
    from benchmark_utils.records import write_atomic
    out = str(tmp_path / 'docs' / 'bench.md')
    assert write_atomic(out, 'one\n') is None
    assert write_atomic(out, 'one\n') is None, 'same content: nothing kept'
    assert write_atomic(out, 'two\n') == out + '.prev'
    assert write_atomic(out, 'three\n', keep_previous=False) is None
    assert open(out).read() == 'three\n'
    assert open(out + '.prev').read() == 'one\n'
    assert not [
        p for p in (tmp_path / 'docs').iterdir() if p.name.endswith('.tmp')
    ]


@pytest.mark.slow
def test_train_and_infer_modes(tool, configs, tmp_path, capsys):
    stock, _ = configs
    out = tmp_path / 'bench.md'
    out.write_text('an older, different page\n')
    argv = [
        'train', '--configs', f'tiny={stock}', f'broken={tmp_path}/no.py',
        '--device', 'cpu', '--batch', '2', '--input-size', '64', '--warmup',
        '1', '--iters', '1', '--modes', 'fp32,bf16', '--train-acc', 'config',
        '--peak-tflops', '0.05', '--out',
        str(out)
    ]
    assert _run(tool, argv) == 1, 'a config failed: exit 1, after the rest'
    printed = capsys.readouterr().out
    recs = json.loads((tmp_path / 'bench.json').read_text())
    assert [(r['model'], r['setting']) for r in recs] == [('tiny', 'fp32 b2'),
                                                          ('tiny', 'bf16 b2'),
                                                          ('broken', 'build')]
    for r in recs[:2]:
        m = r['metrics']
        assert m['img_s'] > 0 and m['finite'] and m['params_m'] > 1
        assert m['tflops'] > 0 and m['img_s_vs_ref'] == pytest.approx(1.)
        assert m['pct_peak'] == pytest.approx(100 * m['tflops'] / 0.05)
        assert r['mode'] == 'train' and r['commit'] and \
            r['command'].startswith('python benchmarks/benchmark.py train')
    assert 'no.py' in recs[2]['metrics']['error']
    assert out.read_text().strip() == printed.strip()
    assert (tmp_path / 'bench.md.prev').read_text().startswith('an older')
    assert _run(tool, ['train', '--render-json',
                       str(tmp_path / 'bench.json')]) == 0
    assert capsys.readouterr().out.strip() == printed.strip()
    # the accuracy patch of the stock head is undone after the run
    import mmpose.models.heads.heatmap_heads.heatmap_head as hh
    from mmpose.utils import tensor_utils
    assert hh.to_numpy is tensor_utils.to_numpy
    argv = [
        'infer', '--configs', f'tiny={stock}', '--device', 'cpu',
        '--input-size', '64', '--warmup', '0', '--iters', '2', '--batches',
        '1,2', '--flip', 'both', '--no-write'
    ]
    assert _run(tool, argv) == 0
    page = capsys.readouterr().out
    for setting in ('fp32 b1', 'fp32 b1 flip', 'fp32 b2', 'fp32 b2 flip'):
        assert f'| tiny | {setting} | 1 |' in page


@pytest.mark.slow
def test_profile_mode_counts_parts(tool, configs, tmp_path):
    _, sadinet = configs
    argv = [
        'profile', '--configs', f'tiny={sadinet}', '--device', 'cpu',
        '--warmup', '1', '--steps', '1', '--parts', '--trace',
        str(tmp_path / 'trace'), '--out',
        str(tmp_path / 'p.md')
    ]
    assert _run(tool, argv) == 0
    (rec, ) = json.loads((tmp_path / 'p.json').read_text())
    m = rec['metrics']
    assert m['step_ms'] > 0 and m['ops_per_step'] > 100
    assert m['conv_ms'] > 0 and all(
        m[f'ops_{p}'] > 0
        for p in ('backbone', 'neck', 'head_loss', 'optimizer'))
    assert (tmp_path / 'trace' / 'tiny.json').is_file()
    with pytest.raises(SystemExit, match='--parts splits a training step'):
        _run(tool, argv + ['--infer'])


def test_profile_categories(tool):
    from benchmark_utils.profile_mode import categorize
    assert categorize('cudnn::engines_precompiled::nchwToNhwcKernel') == \
        'layout'
    assert categorize('sm90_xmma_wgrad_indexed_implicit_gemm') == 'conv'
    assert categorize('void cudnn::bn_bw_1C11_kernel_new<float>') == 'norm'
    assert categorize('at::native::upsample_bilinear2d_out_frame') == \
        'resize'
    assert categorize('Memcpy DtoH (Device -> Pageable)') == 'copy'
    assert categorize('something else') == 'other'


@pytest.mark.slow
def test_onnx_mode(tool, trained_tiny, tmp_path):
    argv = [
        'onnx', '--models', f'tiny64={trained_tiny.cfg}', '--batches', '1',
        '2', '--thread-counts', '1', '2', '--warmup', '0', '--repeats', '2',
        '--no-cuda', '--max-load', '-1', '--out',
        str(tmp_path / 'o.md')
    ]
    assert _run(tool, argv) == 0
    recs = json.loads((tmp_path / 'o.json').read_text())
    assert [(r['setting'], r['threads'])
            for r in recs] == [(f'{rt} b{b}', t) for b in (1, 2)
                               for t in (1, 2)
                               for rt in ('pytorch', 'onnxruntime')]
    for r in recs:
        m = r['metrics']
        assert m['n'] == 2 and m['img_s'] == pytest.approx(
            int(r['setting'][-1]) / m['ms'] * 1e3)


def test_onnx_mode_refuses_a_loaded_machine(tool, monkeypatch, tmp_path):
    import os
    monkeypatch.setattr(os, 'getloadavg', lambda: (1.7, 1.0, 1.0))
    with pytest.raises(SystemExit, match='load average is 1.70'):
        _run(tool, ['onnx', '--models', 'tiny', '--out', str(tmp_path / 'x')])
    assert not list(tmp_path.iterdir()), 'nothing written'
    monkeypatch.setattr(os, 'getloadavg', lambda: (0., 0., 0.))
    with pytest.raises(SystemExit, match="unknown model 'giant'"):
        _run(tool, ['onnx', '--models', 'giant', '--no-write'])


def test_runner_settings_change_what_they_name(tool):
    from mmengine.config import Config

    from benchmark_utils import runner_mode
    path = osp.join(osp.dirname(BENCHMARKS), runner_mode.MODELS['f2'])
    for name in runner_mode.SETTINGS:
        cfg = Config.fromfile(path)
        for change in runner_mode.changes_of(name):
            change(cfg)
        hooks = [h['type'] for h in cfg.get('custom_hooks') or []]
        if name == 'flush-denormal':
            assert 'FlushDenormalHook' in hooks
        if name.startswith('workers='):
            assert cfg.train_dataloader.num_workers == int(name[-1])
        if name == 'channels-last':
            assert cfg.model.channels_last is True
        if name == 'grad-diag-off':
            assert 'GradBalanceHook' not in hooks
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['fast'\]"):
        runner_mode.changes_of('as-is+fast')


def test_runner_records_on_known_runs(tool, monkeypatch, tmp_path):
    from benchmark_utils import runner_mode
    env = dict(device='cpu', threads=1, torch='t', commit='c', command='x')
    runs = [
        dict(model='b', setting='as-is', iter_s=1.0, data_s=0.1, batch=32),
        dict(
            model='b',
            setting='channels-last',
            iter_s=0.6,
            data_s=0.1,
            batch=32),
        dict(model='b', setting='as-is', iter_s=1.2, data_s=0.3, batch=32),
        dict(
            model='b',
            setting='channels-last',
            iter_s=0.4,
            data_s=0.1,
            batch=32),
        dict(model='b', setting='compile', error='boom')
    ]
    base, cl, failed = (
        r['metrics'] for r in runner_mode.summarise(runs, env, 2))
    assert base['iter_s'] == pytest.approx(1.1) and base['speedup'] == 1
    assert (cl['iter_s'], cl['iter_s_min'], cl['iter_s_max']) == \
        pytest.approx((0.5, 0.4, 0.6))
    assert cl['speedup'] == pytest.approx(2.2) and cl['img_s'] == 64
    assert failed == dict(error='boom')
    import os
    monkeypatch.setattr(os, 'getloadavg', lambda: (3., 3., 3.))
    with pytest.raises(SystemExit, match='busy'):
        _run(tool, ['runner', '--out', str(tmp_path / 'x.md')])
    assert not (tmp_path / 'x.md').exists()
