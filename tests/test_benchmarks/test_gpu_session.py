"""benchmarks/gpu_session.sh: its command line, checked without a GPU."""
import os
import os.path as osp
import re
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(REPO, 'benchmarks', 'gpu_session.sh')


def run_script(*args, env=None, cwd=None):
    """Run the script with ``args``; returns (exit code, stdout + stderr)."""
    full_env = {
        k: v
        for k, v in os.environ.items() if not k.startswith('SADINET_')
    }
    full_env.update(env or {})
    proc = subprocess.run(['bash', SCRIPT, *args],
                          capture_output=True,
                          text=True,
                          env=full_env,
                          cwd=cwd,
                          timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def test_syntax():
    proc = subprocess.run(['bash', '-n', SCRIPT],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, f'bash -n: {proc.stderr}'


@pytest.mark.parametrize('args,message', [
    ((), 'no stage given'),
    (('--wheels', ), '--wheels needs a folder'),
    (('--colour', 'blue', 'bench'), "unknown option '--colour'"),
    (('warp', ), "unknown stage 'warp'"),
    (('fetch', ),
     'needs the wheel folder: --wheels DIR or SADINET_WHEELS=DIR'),
])
def test_bad_command_lines_stop_with_a_message(args, message, tmp_path):
    rc, out = run_script('--results', str(tmp_path / 'res'), *args)
    assert rc == 2, f'{args}: exit {rc}, expected 2:\n{out}'
    assert message in out, f'{args}: no "{message}" in:\n{out}'


def test_install_without_packages_needs_the_named_wheel_folder(tmp_path):
    """A Python without MMPose: install asks for the wheel folder, then for
    wheels in it (named relative to the caller's directory)."""
    fake_py = tmp_path / 'python_without_mmpose'
    fake_py.write_text('#!/usr/bin/env bash\nexit 1\n')  # every import fails
    fake_py.chmod(0o755)
    env = dict(PYTHON=str(fake_py))
    rc, out = run_script('--results', 'res', 'install', env=env, cwd=tmp_path)
    assert rc == 2 and 'needs the wheel folder' in out, out
    (tmp_path / 'wheels').mkdir()
    rc, out = run_script(
        'install',
        env=dict(env, SADINET_WHEELS='wheels', SADINET_RESULTS='res'),
        cwd=tmp_path)
    assert rc == 2, out
    assert f'no wheels in {tmp_path}/wheels' in out, out
    assert (tmp_path / 'res').is_dir(), 'results folder not made where called'


def test_speaks_only_of_the_project():
    """No issue numbers, remote-run output folders or carry lists."""
    text = open(SCRIPT).read()
    for pattern in (r'[Ii]ssue', r'\$OUT\b', r'\$\{OUT', r'carry', r'/root/'):
        assert not re.search(pattern,
                             text), f'gpu_session.sh matches {pattern}'
