"""The MPII chain comparison: its smoke setting writes a page that scores
both chains against the drawn pixels, and leaves committed results alone."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from helpers import BENCHMARKS, REPO

TOOL = osp.join(BENCHMARKS, 'mpii_chain.py')


def test_stock_config_swaps_only_dataset_and_metric(tmp_path):
    from mmengine.config import Config

    import sadinet_mmpose  # noqa: F401
    from helpers import load_tool
    chain = load_tool('mpii_chain.py', BENCHMARKS)
    path = tmp_path / 'stock.py'
    root = str(tmp_path / 'data') + '/'
    path.write_text(
        chain.STOCK_OVERRIDE.format(base=chain.MAIN_CONFIG, root=root))
    stock, ours = Config.fromfile(str(path)), Config.fromfile(
        chain.MAIN_CONFIG)
    assert stock.model == ours.model and stock.optim_wrapper == \
        ours.optim_wrapper and stock.train_cfg == ours.train_cfg
    for loader in ('train_dataloader', 'val_dataloader'):
        ds = stock[loader].dataset
        assert ds.type == 'MpiiDataset' and ds.data_root == root
        assert ds.pipeline == ours[loader].dataset.pipeline
    assert stock.val_dataloader.dataset.headbox_file == \
        root + 'val/headboxes.mat'
    assert stock.test_evaluator == dict(type='MpiiPCKAccuracy')


@pytest.mark.slow
def test_smoke_writes_both_chains_to_a_temporary_page():
    page = osp.join(BENCHMARKS, 'results', 'mpii_chain_cpu.md')
    before = os.stat(page).st_mtime_ns if osp.exists(page) else None
    proc = subprocess.run([sys.executable, TOOL, '--smoke'],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=1200)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    out = proc.stdout.strip().splitlines()[-1].split()[2]
    assert out != page and osp.isfile(out)
    after = os.stat(page).st_mtime_ns if osp.exists(page) else None
    assert after == before
    data = json.loads(open(osp.splitext(out)[0] + '.json').read())
    for chain in ('ours', 'stock'):
        rows = data['rows'][chain]
        assert {'own', 'truth_flip', 'truth_no_flip'} <= set(rows)
        assert 'bias_x' in rows['truth_flip'] and 'PCK' in rows['own']
    text = open(out).read()
    assert 'MpiiPCKAccuracy (+1)' in text and 'the drawn pixels' in text
    shutil.rmtree(osp.dirname(out))
