"""``benchmarks/deploy_latency.py`` on the tiny test model: the table, the
markdown page and the JSON it writes."""
import importlib.util
import json
import os.path as osp

from helpers import REPO  # noqa: E402


def _load():
    path = osp.join(REPO, 'benchmarks', 'deploy_latency.py')
    spec = importlib.util.spec_from_file_location('sadinet_deploy_latency',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_latency_table_markdown_and_json(trained_tiny, tmp_path, capsys):
    bench = _load()
    argv = [
        '--models', f'tiny64={trained_tiny.cfg}', '--batches', '1', '2',
        '--threads', '1', '2', '--warmup', '0', '--repeats', '1', '--no-cuda',
        '--max-load', '-1', '--out-dir',
        str(tmp_path)
    ]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((tmp_path / 'deploy_latency_cpu.json').read_text())
    rows = data['rows']
    assert [(r['runtime'], r['threads'], r['batch'])
            for r in rows] == [(rt, t, b) for b in (1, 2) for t in (1, 2)
                               for rt in ('pytorch', 'onnxruntime')], rows
    for r in rows:
        assert len(r['runs_ms']) == 1 and r['median_ms'] > 0 and \
            abs(r['img_per_s'] - r['batch'] * 1e3 / r['median_ms']) < 0.01
        assert r['outputs'] == ['heatmaps', 'mu', 'sigma']
        assert f"t={r['threads']:<3d} b={r['batch']:<3d}" in printed
    page = (tmp_path / 'deploy_latency_cpu.md').read_text()
    assert data['command'] in page and '--repeats 1' in data['command']
    assert page.count('| tiny64 |') == 8 and '| 1.00x |' in page
    env = data['env']
    assert 'without the load check' in page
    assert env['commit'] != 'unknown' and f"Commit {env['commit']}" in page
    assert env['load_before'] >= 0 and env['load_after'] >= 0


def test_refuses_a_loaded_machine(monkeypatch, capsys, tmp_path):
    import os
    bench = _load()
    monkeypatch.setattr(os, 'getloadavg', lambda: (1.7, 1.0, 1.0))
    assert bench.main(['--models', 'tiny', '--out-dir', str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert 'load average is 1.70' in err and '--max-load -1' in err
    assert not list(tmp_path.iterdir()), 'nothing written'


def test_unknown_model_is_a_one_line_error(capsys, tmp_path):
    assert _load().main(['--models', 'giant', '--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'giant'") and '\n' not in err
