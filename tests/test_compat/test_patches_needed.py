"""Each compatibility patch of ``sadinet_mmpose.compat`` works around a failure
of the pinned upstream stack; these tests run the unpatched upstream code in
a fresh interpreter and check that it still fails as the patch's docstring
says. When an upgrade fixes the failure, the test fails: drop the patch.

- ``mmcv_lite`` / ``mmcv_lite_boot``: MMPose 1.3.2's ``import mmpose.models``
  on mmcv-lite 2.1.0 (no ``mmcv._ext``);
- ``torch_weights_only``: torch >= 2.6 ``torch.load`` (weights only) of an
  mmengine 0.10.7 checkpoint;
- ``cpu_distributed``: mmengine 0.10.7's ``init_dist('pytorch')`` and its DDP
  wrapper's ``device_ids`` on a machine without CUDA;
- ``visualizer_numpy``: MMPose 1.3.2's ``draw_circles`` with numpy >= 2.4.
"""
import subprocess
import sys
import textwrap

import pytest
import torch

# Removes the start-up hook of tools/setup_env.sh (mmcv_lite_boot) so that the
# child sees the upstream packages exactly as installed.
_NO_HOOK = textwrap.dedent('''
    import sys
    sys.meta_path[:] = [f for f in sys.meta_path
                        if type(f).__name__ != '_MmcvOpsHook']
''')


def _run_unpatched(code: str, env=None, mmcv_hook: bool = False):
    """Run ``code`` in a fresh interpreter that never imports the plugin
    (with ``mmcv_hook``, the start-up hook's mmcv-lite stand-in stays)."""
    prelude = '' if mmcv_hook else _NO_HOOK
    proc = subprocess.run(
        [sys.executable, '-c', prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env)
    return proc.returncode, proc.stdout + proc.stderr


def _mmcv_ops_compiled() -> bool:
    import importlib.util
    return importlib.util.find_spec('mmcv._ext') is not None


@pytest.mark.skipif(_mmcv_ops_compiled(), reason='full mmcv: no patch made')
def test_mmpose_models_needs_the_mmcv_placeholders():
    rc, out = _run_unpatched('import mmpose.models')
    assert rc != 0 and 'mmcv._ext' in out, (
        'import mmpose.models now works on mmcv-lite without the '
        f'placeholders: remove compat/mmcv_lite.py and '
        f'mmcv_lite_boot.py\n{out}')


def test_mmengine_checkpoint_needs_the_allow_list(tmp_path):
    path = tmp_path / 'ckpt.pth'
    rc, out = _run_unpatched(f'''
        import numpy as np, torch
        from mmengine.logging import MessageHub
        hub = MessageHub.get_instance('x')
        hub.update_scalar('train/loss', 0.5)
        torch.save(dict(message_hub=hub.state_dict(),
                        meta=dict(a=np.arange(3))), {str(path)!r})
        try:
            torch.load({str(path)!r})
        except Exception as e:
            print('REFUSED', type(e).__name__, str(e).splitlines()[0])
        else:
            print('LOADED')
    ''')
    assert rc == 0, out
    assert 'REFUSED' in out, (
        'torch.load reads mmengine checkpoints without the allow-list: '
        f'remove compat/torch_weights_only.py\n{out}')


@pytest.mark.skipif(
    torch.cuda.is_available(),
    reason='the CPU adaptation applies without CUDA')
def test_cpu_distributed_needs_the_launcher_and_wrapper_patch(tmp_path):
    import os
    env = dict(
        os.environ,
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT='29731')
    rc, out = _run_unpatched(
        '''
        import torch
        from mmengine.dist import init_dist
        try:
            init_dist('pytorch', backend='gloo')
        except Exception as e:
            print('LAUNCHER FAILS', type(e).__name__)
        else:
            print('LAUNCHER WORKS')
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group('gloo')
        from mmengine.model import MMDistributedDataParallel
        try:
            MMDistributedDataParallel(torch.nn.Linear(2, 2),
                                      device_ids=[0])
        except Exception as e:
            print('WRAPPER FAILS', type(e).__name__)
        else:
            print('WRAPPER WORKS')
    ''',
        env=env)
    assert 'LAUNCHER FAILS' in out, (
        "mmengine's launcher starts without CUDA: drop _patch_launcher in "
        f'compat/cpu_distributed.py\n{out}')
    assert 'WRAPPER FAILS' in out, (
        "DDP takes device_ids=[LOCAL_RANK] for a CPU module: drop "
        f'_patch_wrap_model in compat/cpu_distributed.py\n{out}')


def test_mmpose_visualiser_needs_the_radius_fix():
    rc, out = _run_unpatched(
        '''
        import sys
        import numpy as np
        from mmpose.visualization import PoseLocalVisualizer
        vis = PoseLocalVisualizer(name='probe')
        vis.set_image(np.zeros((4, 4, 3), np.uint8))
        try:
            vis.draw_circles(np.array([[1., 1.]]), radius=np.array([1]),
                             face_colors=(255, 0, 0))
        except TypeError as e:
            print('DRAW FAILS', e)
        else:
            print('DRAW WORKS')
        assert 'sadinet_mmpose' not in sys.modules
    ''',
        mmcv_hook=True)
    assert rc == 0, out
    assert 'DRAW FAILS' in out, (
        "MMPose's draw_circles takes a one-element radius array under this "
        f'numpy: remove compat/visualizer_numpy.py\n{out}')


def test_mmpose_inferencer_output_needs_the_sigma_fields():
    rc, out = _run_unpatched(
        '''
        import sys
        import numpy as np
        from mmengine.structures import InstanceData
        from mmpose.structures import split_instances
        people = split_instances(InstanceData(
            keypoints=np.zeros((1, 3, 2)), keypoint_scores=np.ones((1, 3)),
            keypoint_sigmas=np.ones((1, 3, 2)),
            sigma_calibrated=np.array([True])))
        print('KEPT' if 'keypoint_sigmas' in people[0] else 'DROPPED')
        assert 'sadinet_mmpose' not in sys.modules
    ''',
        mmcv_hook=True)
    assert rc == 0, out
    assert 'DROPPED' in out, (
        "MMPose's split_instances keeps the sigmas: remove "
        f'compat/inferencer_sigmas.py\n{out}')
