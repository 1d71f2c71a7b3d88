"""The ablation study tool: variants, bad input, and its smoke setting."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from helpers import BENCHMARKS, REPO, load_tool  # noqa: E402

STUDY = osp.join(BENCHMARKS, 'ablation', 'study.py')


def _study():
    return load_tool('study.py', osp.join(BENCHMARKS, 'ablation'))


def test_every_variant_builds_and_differs_from_the_base_in_one_part():
    import sadinet_mmpose  # noqa: F401
    from mmengine.config import Config
    from mmpose.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    study = _study()
    variants = study.list_variants()
    for name in ('a_zoo-hg-basic', 'b_hg-basic', 'c_rfm-d2', 'd_rfm-d3',
                 'e_hg-sfm-dlm', 'f_sadinet', 'g_sadinet-loss-sum',
                 'h_hg-basic-wide', 'f2_sadinet-h1sum', 'f3_sadinet-h2mse'):
        assert name in variants, f'{name} missing from {sorted(variants)}'
    params = {}
    for name, path in variants.items():
        cfg = Config.fromfile(path)
        assert cfg.train_dataloader.dataset.difficulty == 'standard', name
        assert cfg.model.test_cfg.flip_test, f'{name}: flip test'
        assert cfg.codec['input_size'] == (128, 128), name
        model = MODELS.build(cfg.model)
        params[name] = sum(p.numel() for p in model.parameters())
        assert study.is_dlm(path) == (cfg.model.head.type == 'DLMHead'), name
    # the capacity control is within 10% of the RFM backbone's size
    assert abs(params['h_hg-basic-wide'] / params['c_rfm-d2'] - 1) < 0.1
    assert params['b_hg-basic'] < params['c_rfm-d2']


def test_unknown_variant_and_budget_are_refused_before_training(tmp_path):
    for extra, want in ((['--variants', 'nope'], 'unknown variant'),
                        (['--budget-min', '0.5'], 'exceeds --budget-min')):
        proc = subprocess.run(
            [sys.executable, STUDY, '--out-dir', str(tmp_path), *extra],
            capture_output=True, text=True, cwd=REPO, timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert want in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / 'ablation.json').exists()


def test_report_from_records_with_a_failed_run(tmp_path):
    """A diverged run is listed; the others are aggregated with spreads."""
    study = _study()
    variants = {n: p for n, p in study.list_variants().items()
                if n in ('b_hg-basic', 'f_sadinet')}
    ok = dict(status='ok', curve=[(10, 0.1), (20, 0.3)],
              grad_ratio_first=100., grad_ratio_median=10.,
              grad_ratio_last=5., chi_last=0.05)

    def ev(pck):
        m = {k: pck for _, k in study.COLUMNS}
        m.update(sigma_spearman=0.3, sigma_within_1=40., sigma_within_2=80.,
                 sigma_within_3=95.)
        return {'val/h1': m, 'test/h1': m, 'params_M': 1.0, 'gmacs': 0.1}

    records = [
        dict(ok, variant='b_hg-basic', seed=0, eval=ev(50.)),
        dict(ok, variant='b_hg-basic', seed=1, eval=ev(60.)),
        dict(ok, variant='f_sadinet', seed=0, eval=ev(40.)),
        dict(variant='f_sadinet', seed=1, status='diverged',
             message='f_sadinet seed 1: loss became NaN/inf'),
    ]
    table = study.aggregate(records, variants)
    assert table['b_hg-basic']['test/h1']['PCK'] == [50., 60.]
    assert study.fmt(table['b_hg-basic']['test/h1']['PCK']) == '55.0 ± 5.0'
    meta = dict(command='x', date='d', machine='m', wall_min=1., seeds=[0, 1],
                complete=True,
                settings=dict(train_images=8, epochs=1, batch_size=4,
                              val_images=2, test_images=2))
    study.write_markdown(str(tmp_path / 'a.md'), table, variants, meta)
    text = (tmp_path / 'a.md').read_text()
    assert '| b_hg-basic | 1.00 | 0.100 | 55.0 ± 5.0' in text, text
    assert 'f_sadinet seed 1: loss became NaN/inf' in text
    study.write_figure(str(tmp_path / 'a.png'), table, variants)
    assert (tmp_path / 'a.png').stat().st_size > 1000


@pytest.mark.slow
def test_smoke_setting_writes_table_figure_and_json(tmp_path):
    proc = subprocess.run(
        [sys.executable, STUDY, '--smoke', '--out-dir', str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert 'estimate' in proc.stdout and '[study] 2/2 ' in proc.stdout
    assert 'b_hg-basic seed 0: ok' in proc.stdout, proc.stdout
    data = json.loads((tmp_path / 'ablation.json').read_text())
    assert set(data['variants']) == {'b_hg-basic', 'f_sadinet'}
    runs = {r['variant']: r for r in data['runs']}
    assert all(r['status'] == 'ok' for r in runs.values()), runs
    f = runs['f_sadinet']
    assert 'grad_ratio_first' in f, 'DLM runs report the gradient balance'
    assert {'test/h1', 'test/mu', 'test/blend', 'val/h1'} <= set(f['eval'])
    assert 'sigma_within_1' in f['eval']['test/h1']
    md = (tmp_path / 'ablation.md').read_text()
    assert '| b_hg-basic |' in md and '| f_sadinet |' in md
    assert (tmp_path / 'ablation.png').stat().st_size > 1000

