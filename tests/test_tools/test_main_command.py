"""The README's main command, on a shortened schedule."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))


def test_fresh_work_dir_never_reuses_one_with_checkpoints(tmp_path):
    from main import fresh_work_dir
    base = tmp_path / 'main'
    assert fresh_work_dir(str(base)) == str(base), 'a new folder is used as is'
    base.mkdir()
    (base / 'epoch_1.pth').write_bytes(b'x')
    assert fresh_work_dir(
        str(base)) == f'{base}-2', 'a folder with checkpoints is kept'
    (tmp_path / 'main-2').mkdir()
    (tmp_path / 'main-2' / 'best_PCK_epoch_1.pth').write_bytes(b'x')
    assert fresh_work_dir(str(base)) == f'{base}-3'


def test_a_users_files_in_the_work_dir_are_never_touched(tmp_path):
    from main import fresh_work_dir
    base = tmp_path / 'main'
    base.mkdir()
    assert fresh_work_dir(str(base)) == str(base), 'an empty folder is used'
    mine = {
        'summary.md': b'my notes',
        'metrics.json': b'{"mine": 1}',
        'main_args.json': b'{}'
    }
    for name, data in mine.items():
        (base / name).write_bytes(data)
    assert fresh_work_dir(str(base)) == f'{base}-2'
    (tmp_path / 'main-2').write_bytes(b'a file, not a folder')
    assert fresh_work_dir(str(base)) == f'{base}-3'
    assert {p.name: p.read_bytes() for p in base.iterdir()} == mine


@pytest.mark.slow
def test_main_command_short_schedule(tmp_path):
    work = tmp_path / 'work'
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools', 'main.py'), '--epochs', '1', '--train-images',
        '64', '--val-images', '16', '--batch-size', '16', '--num-workers', '0',
        '--pictures', '2', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(work)
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert 'Epoch(train)' in out, 'progress must be shown'
    assert glob.glob(str(work / '*.pth')), 'checkpoint missing'
    assert glob.glob(str(work / '*' / '*.log')), 'training log missing'
    metrics = json.loads((work / 'metrics.json').read_text())
    assert 'PCKh' in metrics or 'PCK' in metrics, metrics
    summary = (work / 'summary.md').read_text()
    assert summary.startswith('# SADI-Net main job')
    # where the time went, the seed, and the tie-free checkpoint key
    assert {
        'time_generation_s', 'time_training_s', 'time_error head_s',
        'time_calibration_s', 'time_tests_s', 'time_pictures_s', 'time_total_s'
    } <= set(metrics)
    assert '- seed: 0' in summary and 'generation' in summary
    assert 'PCKh-AUC' in metrics
    assert glob.glob(str(work / 'best_PCKh-AUC_epoch_*.pth'))
    assert '## Is sigma calibrated?' in summary, summary
    levels = (50, 80, 90, 95, 99)
    cov = [metrics[f'sigma_coverage_{p}'] for p in levels]
    assert all(0 <= c <= 100 for c in cov) and cov == sorted(cov), metrics
    assert 0 <= metrics['sigma_ece'] <= 100
    # selected and calibrated on validation, reported on test: before and
    # after calibration, the score AUROCs and the plot
    assert 'calibrated_sigma_coverage_90' in metrics, metrics
    assert {
        'score_auroc@0.5', 'prob0.5_score_auroc@0.5',
        'prob0.1_score_auroc@0.1', 'hprob0.5_score_auroc@0.5',
        'hprob0.1_score_within_auroc@0.1'
    } <= set(metrics), metrics
    assert '| after |' in summary and 'Does the score tell' in summary
    # the sigma is the error head's, fitted on the training split
    import torch
    state = torch.load(
        str(work / 'sigma_calibrated.pth'),
        map_location='cpu',
        weights_only=False)['state_dict']
    assert float(state['head.error_head.fitted']) == 1
    assert 'error head fitted on the training split' in summary
    assert (work / 'calibration.png').stat().st_size > 5000
    pictures = sorted(glob.glob(str(work / 'vis' / '*.png')))
    assert len(pictures) == 2, pictures
    import cv2
    img = cv2.imread(pictures[0])
    assert img is not None and img.shape[1] == 4 * img.shape[0], img.shape


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _children(pid: int) -> list:
    import glob as _glob
    kids = []
    for stat in _glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                fields = f.read().split(')')[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.split('/')[2]))
    return kids


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir('/proc'), reason='reads /proc (Linux)')
@pytest.mark.parametrize('sig', ['SIGKILL', 'SIGTERM'])
def test_killed_main_job_leaves_no_orphan_and_resumes(tmp_path, sig):
    """Kill main.py once the first epoch's checkpoint exists: its training
    child goes too; ``--resume`` then trains on from that checkpoint and
    evaluates."""
    import signal
    import time
    work = tmp_path / 'work'
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools', 'main.py'), '--epochs', '3', '--train-images',
        '96', '--val-images', '16', '--batch-size', '16', '--num-workers', '0',
        '--pictures', '1', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(work)
    ]
    log = open(tmp_path / 'first.log', 'w')
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 600
    while not (work / 'last_checkpoint').exists():
        assert proc.poll() is None, (tmp_path /
                                     'first.log').read_text()[-3000:]
        assert time.time() < deadline, 'no checkpoint after 10 minutes'
        time.sleep(0.5)
    children = _children(proc.pid)
    assert children, 'training runs in a child process'
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=60)
    t0 = time.time()
    while any(_alive(c) for c in children) and time.time() - t0 < 60:
        time.sleep(0.2)
    assert not any(_alive(c) for c in children), \
        f'{sig} of main.py left its training child running'
    assert not (work / 'summary.md').exists()

    resumed = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'main.py'), '--resume', '--work-dir',
        str(work)
    ],
                             cwd=REPO,
                             capture_output=True,
                             text=True,
                             timeout=900)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-5000:]
    assert f'resuming {work}' in out and 'Epoch(train) [1]' not in out, \
        'training went on from the checkpoint, not from scratch'
    assert 'Epoch(train) [3]' in out
    summary = (work / 'summary.md').read_text()
    assert '(resumed with `--resume`)' in summary and '--epochs 3' in summary
    assert json.loads((work / 'metrics.json').read_text())


def test_resume_without_an_interrupted_job_says_so(tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'main.py'), '--resume', '--work-dir',
        str(tmp_path / 'none')
    ],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert 'no interrupted main job' in proc.stderr, proc.stderr


@pytest.mark.parametrize('content,words',
                         [(None, 'is missing'),
                          ('{"epochs": ', 'not valid JSON'),
                          ('[1, 2]', 'holds a list'),
                          ('{"epochs": 1}', 'lacks config and argv')])
def test_resume_with_a_bad_main_args_json_names_it(tmp_path, content, words):
    work = tmp_path / 'main'
    work.mkdir()
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    if content is not None:
        (work / 'main_args.json').write_text(content)
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'main.py'), '--resume', '--work-dir',
        str(work)
    ],
                          capture_output=True,
                          text=True,
                          timeout=120)
    err = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, \
        proc.stderr
    assert 'main_args.json' in err and words in err, err


def test_every_tool_refuses_abbreviated_options():
    import ast
    files = glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
    files += glob.glob(
        osp.join(REPO, 'benchmarks', '**', '*.py'), recursive=True)
    parsers = 0
    for path in files:
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(
                    node.func, 'attr', None) == 'ArgumentParser':
                parsers += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert 'allow_abbrev' in kw and kw['allow_abbrev'].value is \
                    False, f'{path}:{node.lineno}: abbreviations accepted'
    assert parsers >= 10
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools', 'main.py'), '--epoch', '1'],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO)
    assert proc.returncode == 2 and '--epoch' in proc.stderr, proc.stderr


def test_each_difficulty_gets_its_own_data_folder():
    import argparse

    from main import _cfg_options
    base = dict(
        epochs=None,
        train_images=None,
        val_images=None,
        data_root=None,
        batch_size=None,
        num_workers=None)
    easy = _cfg_options(argparse.Namespace(**base, difficulty=None))
    assert not any(k.endswith('.data_root') for k in easy), \
        'easy keeps the config\'s data/synthetic_mpii/'
    hard = _cfg_options(argparse.Namespace(**base, difficulty='hard'))
    roots = {v for k, v in hard.items() if k.endswith('.data_root')}
    assert roots == {osp.join(REPO, 'data', 'synthetic_mpii_hard') + '/'}
    assert {v for k, v in hard.items() if k.endswith('.difficulty')} == \
        {'hard'}
    mine = _cfg_options(
        argparse.Namespace(**dict(base, data_root='/x'), difficulty='hard'))
    assert {v for k, v in mine.items() if k.endswith('.data_root')} == {'/x/'}
