"""MMPose's own ``tools/analysis_tools/get_flops.py`` works on our config."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.slow
def test_stock_get_flops_prints_params_and_flops():
    import mmpose
    tool = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'tools', 'analysis_tools',
        'get_flops.py')
    cfg = osp.join(REPO, 'configs', 'sadinet',
                   'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py')
    proc = subprocess.run(
        [sys.executable, tool, cfg, '--input-shape', '256', '256'],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert 'Params: 0.151G' in out, out[-2000:]  # the full model: 151.40 M
    assert 'Flops: 42.69' in out and 'Input shape' in out, out[-2000:]
