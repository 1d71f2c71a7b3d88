"""The runner-throughput bench: its settings build, its page, and its
refusal on a busy machine (the timing itself runs outside the suite)."""
import os.path as osp

from helpers import BENCHMARKS, load_tool


def _bench():
    return load_tool('train_throughput.py', BENCHMARKS)


def test_every_setting_changes_what_it_names():
    from mmengine.config import Config

    import sadinet_mmpose  # noqa: F401
    bench = _bench()
    path = osp.join(osp.dirname(BENCHMARKS), bench.MODELS['f2'])
    for name, changes in bench.SETTINGS.items():
        cfg = Config.fromfile(path)
        for change in changes:
            change(cfg)
        hooks = [h['type'] for h in cfg.get('custom_hooks') or []]
        if name == 'flush-denormal':
            assert 'FlushDenormalHook' in hooks
        if name.startswith('workers='):
            assert cfg.train_dataloader.num_workers == int(name[-1])
        if 'channels-last' in name:
            assert cfg.model.channels_last is True
        if name == 'grad-diag-off':
            assert 'GradBalanceHook' not in hooks
    cfg = Config.fromfile(path)
    assert 'GradBalanceHook' in [h['type'] for h in cfg.custom_hooks], \
        'the study configs switch the gradient diagnostic on'


def test_page_and_busy_machine(tmp_path, capsys):
    bench = _bench()
    doc = dict(
        command='c',
        commit='abc',
        torch='t',
        cpu='x',
        threads=1,
        load_before=0.1,
        rows=[
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
        ])
    out = tmp_path / 'page.md'
    bench.render(doc, str(out))
    page = out.read_text()
    # medians over the repeats: as-is 1.1 s, channels-last 0.5 s
    assert '| b | as-is | 2 | 1.100 | 1.000-1.200 | 0.200 | 29 | 1.00x |' \
        in page
    assert ('| b | channels-last | 2 | 0.500 | 0.400-0.600 | 0.100 | 64 | '
            '2.20x |') in page
    assert '| b | compile | 0 | failed: boom |' in page
    rc = bench.main(['--max-load', '-1', '--out', str(tmp_path / 'x.md')])
    assert rc == 2 and 'busy' in capsys.readouterr().err
    assert not (tmp_path / 'x.md').exists()
