"""MMPose's own tools and the project's demo on a tiny SADI-Net run.

One training of the tiny SADI-Net config (``mim train mmpose``, 2 epochs of
2 iterations on the five MPII sample images) feeds every test of this
module: MMPose's stock ``tools/test.py`` on its checkpoint, ``--resume``,
a second run into the same work dir, ``init_model`` + ``inference_topdown``,
MMPose's ``demo/image_demo.py`` and the project's ``tools/demo.py``, and the
bad-input cases (wrong paths, a checkpoint of another model, unknown config
keys, no person box).

MMPose's drawing (``demo/image_demo.py``, ``tools/test.py --show-dir``,
``demo/inferencer_demo.py`` and ``MMPoseInferencer``) is checked on a
checkpoint derived from that training whose keypoints all score above the
threshold (the ``confident`` fixture): the pictures must hold the skeleton's
colours where the input image did not.

Tools that only need to fail or to run briefly are run in this process
(``runpy`` with their command line) to save the ~8 s start of a Python
process with torch and MMPose; ``mim`` and ``tools/test.py`` on the good
checkpoint run as real subprocesses.
"""
import importlib.util
import json
import os
import os.path as osp
import runpy
import subprocess
import sys
from types import SimpleNamespace

import mmpose  # noqa: E402
import numpy as np
import pytest
import torch

from tiny_configs import sadinet_tiny_config  # noqa: E402

import sadinet_mmpose  # noqa: F401  isort: skip

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIM_ROOT = osp.join(osp.dirname(mmpose.__file__), '.mim')
TRAIN_PY = osp.join(MIM_ROOT, 'tools', 'train.py')
TEST_PY = osp.join(MIM_ROOT, 'tools', 'test.py')
IMAGE_DEMO_PY = osp.join(MIM_ROOT, 'demo', 'image_demo.py')
INFERENCER_DEMO_PY = osp.join(MIM_ROOT, 'demo', 'inferencer_demo.py')
DEMO_PY = osp.join(REPO, 'tools', 'demo.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1')


def _run(cmd, cwd, timeout=600):
    proc = subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def run_tool_in_process(path, *args):
    """Run an MMPose script (``tools/train.py``, ...) here, as ``__main__``."""
    saved = sys.argv
    sys.argv = [path, *map(str, args)]
    try:
        runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv = saved


def _sample_box(data_root, index=0):
    """The MPII sample's person box (x1, y1, x2, y2) and image path."""
    with open(osp.join(data_root, 'annotations', 'mpii_sample.json')) as f:
        ann = json.load(f)[index]
    cx, cy = ann['center']
    half = ann['scale'] * 200 / 2
    return ([cx - half, cy - half, cx + half,
             cy + half], osp.join(data_root, 'images', ann['image']))


@pytest.fixture(scope='module')
def trained(tmp_path_factory, mpii_sample_dir):
    """``mim train mmpose`` of the tiny SADI-Net config for 2 epochs."""
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    if not osp.isfile(mim):
        pytest.fail(
            f'mim (openmim) is not installed in this environment ({mim} '
            'missing): run bash tools/setup_env.sh',
            pytrace=False)
    root = tmp_path_factory.mktemp('tiny_sadinet')
    cfg = root / 'tiny_sadinet.py'
    cfg.write_text(sadinet_tiny_config(mpii_sample_dir, max_epochs=2))
    work = root / 'work'
    # cwd outside the repo: the package must come from the environment,
    # imported by the config's custom_imports in mim's tools/train.py.
    rc, log = _run([mim, 'train', 'mmpose',
                    str(cfg), '--work-dir',
                    str(work)],
                   cwd=str(root))
    assert rc == 0, ('mim train mmpose failed on the tiny SADI-Net config:'
                     f'\n{log[-5000:]}')
    return SimpleNamespace(
        root=root,
        cfg=cfg,
        work=work,
        log=log,
        ckpt=work / 'epoch_2.pth',
        data_root=mpii_sample_dir)


@pytest.fixture(scope='module')
def other_model_ckpt(trained):
    """A checkpoint of another model: tiny SADI-Net with 14 joints (LSP)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    cfg = Config.fromfile(str(trained.cfg))
    cfg.model.head.out_channels = 14
    model = MODELS.build(cfg.model)
    path = trained.root / 'other_model_14_joints.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def demo_module():
    spec = importlib.util.spec_from_file_location('sadinet_demo_tool', DEMO_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mim_train_writes_checkpoints(trained):
    assert 'Epoch(train) [2][2/2]' in trained.log, \
        'mim train: the 2nd iteration of epoch 2 is not in the log'
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        assert (trained.work /
                name).is_file(), f'mim train did not save {name}'


def test_stock_test_py_reports_pck(trained):
    rc, log = _run([
        sys.executable, TEST_PY,
        str(trained.cfg),
        str(trained.ckpt), '--work-dir',
        str(trained.root / 'test_run')
    ],
                   cwd=str(trained.root))
    assert rc == 0, ('tools/test.py failed on the tiny SADI-Net checkpoint:'
                     f'\n{log[-5000:]}')
    assert 'Epoch(test)' in log and 'PCK:' in log, \
        f'tools/test.py printed no PCK:\n{log[-3000:]}'


def test_stock_test_py_refuses_checkpoint_of_other_model(
        trained, other_model_ckpt):
    with pytest.raises(RuntimeError) as err:
        run_tool_in_process(TEST_PY, trained.cfg, other_model_ckpt,
                            '--work-dir', trained.root / 'test_other')
    msg = str(err.value)
    assert 'does not fit the model' in msg, f'unclear mismatch message: {msg}'
    assert 'shape mismatch head.' in msg and '(14,' in msg and '(16,' in msg, \
        f'the message does not name the mismatched key and both shapes: {msg}'


def test_second_run_into_same_work_dir_stops_without_resume(trained):
    before = {p.name: p.read_bytes() for p in trained.work.glob('epoch_*.pth')}
    with pytest.raises(RuntimeError, match='already holds checkpoints'):
        run_tool_in_process(TRAIN_PY, trained.cfg, '--work-dir', trained.work)
    after = {p.name: p.read_bytes() for p in trained.work.glob('epoch_*.pth')}
    assert before == after, 'a second run changed the first run\'s checkpoints'


def test_resume_restores_iteration_optimizer_and_lr(trained, monkeypatch):
    """``tools/train.py --resume`` continues epoch 2 -> 3 from epoch_2.pth."""
    from mmengine.hooks import Hook
    from mmengine.runner import Runner

    saved = torch.load(trained.ckpt, map_location='cpu', weights_only=False)
    seen = {}

    class Probe(Hook):
        priority = 'LOWEST'

        def before_train(self, runner):  # after load_or_resume
            opt = runner.optim_wrapper.optimizer
            seen.update(
                epoch=runner.epoch,
                iter=runner.iter,
                state={
                    k: {
                        n: v.clone() if torch.is_tensor(v) else v
                        for n, v in s.items()
                    }
                    for k, s in opt.state_dict()['state'].items()
                },
                lr=[g['lr'] for g in opt.param_groups])

    original_train = Runner.train

    def train(self):
        self.register_hook(Probe())
        return original_train(self)

    monkeypatch.setattr(Runner, 'train', train)
    run_tool_in_process(TRAIN_PY, trained.cfg, '--work-dir', trained.work,
                        '--resume', '--cfg-options', 'train_cfg.max_epochs=3')

    at = (seen['epoch'], seen['iter'])
    saved_at = (saved['meta']['epoch'], saved['meta']['iter'])
    assert at == saved_at == (2, 4), \
        f'resumed at epoch/iter {at}, saved {saved_at}'
    saved_lr = [g['lr'] for g in saved['optimizer']['param_groups']]
    assert seen['lr'] == saved_lr, \
        f"resumed lr {seen['lr']} differs from the saved one"
    want = saved['optimizer']['state']
    assert seen['state'].keys() == want.keys() and want, \
        'resumed optimizer state has other parameters than the saved one'
    for k, state in want.items():
        for name, value in state.items():
            got = seen['state'][k][name]
            same = torch.equal(
                got, value) if torch.is_tensor(value) else got == value
            assert same, f'optimizer state {k}.{name} differs after resume'
    resumed = torch.load(
        trained.work / 'epoch_3.pth', map_location='cpu', weights_only=False)
    assert (resumed['meta']['epoch'], resumed['meta']['iter']) == (3, 6), \
        'the resumed run did not continue to epoch 3 / iteration 6'


def test_unknown_option_fails_before_training_with_its_place(trained):
    work = trained.root / 'bad_option'
    with pytest.raises(TypeError) as err:
        run_tool_in_process(TRAIN_PY, trained.cfg, '--work-dir', work,
                            '--cfg-options', 'model.backbone.foo=1')
    msg = str(err.value)
    assert 'model.backbone.foo' in msg and 'RFMHourglass' in msg, \
        f'unknown option: message lacks its place or module: {msg}'
    assert not list(
        work.glob('*.pth')), 'a checkpoint was written despite the bad option'


def test_misspelt_type_fails_before_training_with_suggestion(trained):
    work = trained.root / 'bad_type'
    with pytest.raises(KeyError) as err:
        run_tool_in_process(TRAIN_PY, trained.cfg, '--work-dir', work,
                            '--cfg-options', 'model.neck.type=SFMNek')
    msg = str(err.value)
    assert "model.neck.type='SFMNek'" in msg and "'SFMNeck'" in msg, \
        f'misspelt type: message lacks the place or the suggestion: {msg}'
    assert not list(
        work.glob('*.pth')), 'a checkpoint was written despite the bad type'


def test_init_model_inference_topdown_gives_sigmas_in_image_pixels(trained):
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model
    box, image = _sample_box(trained.data_root)
    model = init_model(str(trained.cfg), str(trained.ckpt), device='cpu')
    sigma_hat = []
    distribution = model.head.predict_distribution

    def predict_distribution(*args, **kwargs):  # sigma_hat, crop fractions
        dist = distribution(*args, **kwargs)
        sigma_hat.append(dist['sigma'].numpy())
        return dist

    model.head.predict_distribution = predict_distribution
    result = inference_topdown(model, image, np.array([box]))[0]
    pred = result.pred_instances
    assert 'keypoint_sigmas' in pred, 'inference_topdown: no keypoint_sigmas'
    sigmas = np.asarray(pred.keypoint_sigmas)
    assert sigmas.shape == (1, 16, 2) and np.all(sigmas > 0), \
        f'keypoint_sigmas: shape {sigmas.shape} or non-positive values'
    scale = np.asarray(result.metainfo['input_scale'], dtype=np.float32)[:2]
    np.testing.assert_allclose(
        sigmas,
        sigma_hat[0][:1] * scale,
        rtol=1e-5,
        err_msg='keypoint_sigmas are not sigma_hat in image pixels')
    assert 'pred_fields' not in result or \
        'heatmaps_h2' not in result.pred_fields

    cfg = Config.fromfile(str(trained.cfg))
    cfg.model.test_cfg.output_heatmaps = True
    model = init_model(cfg, str(trained.ckpt), device='cpu')
    result = inference_topdown(model, image, np.array([box]))[0]
    fields = result.get('pred_fields')
    assert fields is not None and 'heatmaps' in fields and \
        'heatmaps_h2' in fields, \
        'output_heatmaps=True: pred_fields lacks heatmaps or heatmaps_h2'
    h1_shape = tuple(fields.heatmaps.shape)
    h2_shape = tuple(fields.heatmaps_h2.shape)
    assert h1_shape == h2_shape == (16, 16, 16), \
        f'heatmap shapes {h1_shape}, {h2_shape}'


def test_mmpose_image_demo_draws_heatmap(trained):
    import cv2
    _, image = _sample_box(trained.data_root)
    out = trained.root / 'image_demo.jpg'
    run_tool_in_process(IMAGE_DEMO_PY, image, trained.cfg, trained.ckpt,
                        '--out-file', out, '--draw-heatmap', '--device', 'cpu')
    picture = cv2.imread(str(out))
    original = cv2.imread(image)
    assert picture is not None, 'demo/image_demo.py wrote no picture'
    # with --draw-heatmap the heatmap is stacked under the image
    assert picture.shape[1] == original.shape[1] and \
        picture.shape[0] == 2 * original.shape[0], \
        (f'image_demo --draw-heatmap: picture {picture.shape}, '
         f'image {original.shape}')


def test_demo_writes_four_panel_picture(trained, demo_module, capsys):
    import cv2
    box, image = _sample_box(trained.data_root)
    out = trained.root / 'demo' / 'panels.png'
    demo_module.main([
        str(trained.cfg),
        str(trained.ckpt), image, '--bbox', *map(str, box), '--out',
        str(out)
    ])
    picture = cv2.imread(str(out))
    assert picture is not None, 'tools/demo.py wrote no picture'
    assert picture.shape == (256, 4 * 256, 3), \
        f'tools/demo.py picture is {picture.shape}, not 4 panels of 256x256'
    printed = capsys.readouterr().out
    assert 'sigma' in printed and f'wrote {out}' in printed


def test_demo_without_box_warns_and_uses_whole_image(trained, demo_module):
    _, image = _sample_box(trained.data_root)
    out = trained.root / 'demo' / 'no_box.png'
    with pytest.warns(UserWarning, match='no person box given'):
        demo_module.main(
            [str(trained.cfg),
             str(trained.ckpt), image, '--out',
             str(out)])
    assert out.is_file(), 'tools/demo.py without --bbox wrote no picture'


@pytest.mark.parametrize('which', ['config', 'checkpoint', 'image'])
def test_demo_missing_path_is_named(trained, demo_module, which):
    _, image = _sample_box(trained.data_root)
    paths = dict(
        config=str(trained.cfg), checkpoint=str(trained.ckpt), image=image)
    paths[which] = str(trained.root / f'no_such_{which}')
    out = trained.root / 'demo' / f'missing_{which}.png'
    with pytest.raises(SystemExit) as err:
        demo_module.main([
            paths['config'], paths['checkpoint'], paths['image'], '--out',
            str(out)
        ])
    assert str(err.value).startswith('error: ')
    assert paths[which] in str(err.value), \
        f'missing {which}: the message does not name the path: {err.value}'
    assert not out.exists(), f'missing {which}: a picture was written anyway'


def test_demo_refuses_checkpoint_of_other_model(trained, demo_module,
                                                other_model_ckpt):
    _, image = _sample_box(trained.data_root)
    with pytest.raises(SystemExit) as err:
        demo_module.main([
            str(trained.cfg),
            str(other_model_ckpt), image, '--out',
            str(trained.root / 'demo' / 'other.png')
        ])
    msg = str(err.value)
    assert 'does not fit' in msg and 'shape mismatches' in msg, \
        ('tools/demo.py: unclear message for a checkpoint of another '
         f'model: {msg}')
    assert str(other_model_ckpt) in msg and 'model keys fit' in msg
    assert '\n' not in msg


def test_demo_refuses_a_box_outside_the_image(trained, demo_module):
    _, image = _sample_box(trained.data_root)
    out = trained.root / 'demo' / 'outside.png'
    with pytest.raises(SystemExit) as err:
        demo_module.main([
            str(trained.cfg),
            str(trained.ckpt), image, '--bbox', '5000', '5000', '5100', '5200',
            '--out',
            str(out)
        ])
    assert 'outside the image' in str(err.value) and image in str(err.value)
    assert not out.exists()


def test_demo_says_whether_sigma_is_calibrated(trained, demo_module, capsys):
    import json
    box, image = _sample_box(trained.data_root)
    out = trained.root / 'demo' / 'label.png'
    out_json = trained.root / 'demo' / 'label.json'
    demo_module.main([
        str(trained.cfg),
        str(trained.ckpt), image, '--bbox', *map(str, box), '--out',
        str(out), '--out-json',
        str(out_json)
    ])
    assert 'sigma (uncalibrated)' in capsys.readouterr().out
    rec = json.loads(out_json.read_text())
    assert np.asarray(rec['keypoints']).shape == (16, 2)
    assert np.asarray(rec['keypoint_sigmas']).shape == (16, 2)
    assert (np.asarray(rec['keypoint_sigmas']) > 0).all()
    assert rec['sigma_calibrated'] is False and rec[
        'keypoint_sigma_dof'] is None
    assert len(rec['keypoint_names']) == 16
    # an existing JSON file is never overwritten
    with pytest.raises(SystemExit, match='exists'):
        demo_module.main([
            str(trained.cfg),
            str(trained.ckpt), image, '--bbox', *map(str, box), '--out',
            str(trained.root / 'demo' / 'label2.png'), '--out-json',
            str(out_json)
        ])


#: A standing figure in MPII's joint order, in fractions of the crop side
#: (left-right symmetric, so flip test leaves it in place).
FIGURE = np.array([[.40, .92], [.41, .75], [.42, .55], [.58, .55], [.59, .75],
                   [.60, .92], [.50, .55], [.50, .30], [.50, .22], [.50, .08],
                   [.25, .52], [.30, .40], [.38, .28], [.62, .28], [.70, .40],
                   [.75, .52]])
#: MPII's skeleton colours (RGB): right limbs, left limbs, torso and head.
ORANGE, GREEN, BLUE = (255, 128, 0), (0, 255, 0), (51, 153, 255)


@pytest.fixture(scope='module')
def confident(trained):
    """The trained checkpoint with its head set to a fixed, confident answer.

    ``mu_hat = 0.5 + linear(f)`` gets zero weights and ``FIGURE - 0.5`` as
    bias; ``sigma_hat = sigmoid(linear(f))`` zero weights and bias -8
    (sigma = sigmoid(-8) + 1e-4 ~ 4e-4, so the scores ``1 - mean(sigma)``
    are ~0.9996). The config decodes ``mu_hat``
    (``test_cfg.decode_source='mu'``). Every tool then draws the figure,
    scaled into the person box, above any threshold.
    """
    ckpt = torch.load(trained.ckpt, map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    state['head.mu_fc.weight'] = torch.zeros_like(state['head.mu_fc.weight'])
    state['head.mu_fc.bias'] = torch.as_tensor(
        FIGURE - 0.5, dtype=torch.float32).reshape(-1)
    state['head.sigma_fc.weight'] = torch.zeros_like(
        state['head.sigma_fc.weight'])
    state['head.sigma_fc.bias'] = torch.full_like(state['head.sigma_fc.bias'],
                                                  -8.)
    path = trained.root / 'confident.pth'
    torch.save(dict(state_dict=state, meta=ckpt['meta']), path)
    cfg = trained.root / 'confident_cfg.py'
    cfg.write_text(trained.cfg.read_text() +
                   "\nmodel['test_cfg']['decode_source'] = 'mu'\n")
    return SimpleNamespace(cfg=cfg, ckpt=path)


def _drawn(picture, original, colour, tol=0):
    """Pixels of ``colour`` (RGB) in ``picture`` where ``original`` differs.

    Both pictures are RGB arrays of one size; ``tol`` is the largest
    per-channel difference accepted (JPEG files need some).
    """
    near = (np.abs(picture.astype(int) - colour).max(-1) <= tol)
    changed = np.abs(picture.astype(int) - original.astype(int)).max(-1) > 40
    return int((near & changed).sum())


#: Thin lines in a JPEG file keep their colour only roughly: a 1280 x 720
#: picture with 1-pixel links has 50-260 pixels within 60 levels of each
#: link colour where the input differs, and none without a skeleton.
JPEG = dict(tol=60, min_pixels=40)


def _assert_skeleton(picture, original, tool, tol=0, min_pixels=50):
    assert picture.shape == original.shape, \
        f'{tool}: picture {picture.shape}, image {original.shape}'
    counts = {
        name: _drawn(picture, original, colour, tol)
        for name, colour in (('orange', ORANGE), ('green', GREEN), ('blue',
                                                                    BLUE))
    }
    assert all(n >= min_pixels for n in counts.values()), \
        f'{tool}: skeleton colours drawn (pixels): {counts}'


def _read_rgb(path):
    import cv2
    picture = cv2.imread(str(path))
    assert picture is not None, f'no picture at {path}'
    return picture[..., ::-1]


def test_mmpose_image_demo_draws_skeleton(trained, confident):
    _, image = _sample_box(trained.data_root)
    original = _read_rgb(image)
    out = trained.root / 'image_demo_skeleton.png'
    run_tool_in_process(IMAGE_DEMO_PY, image, confident.cfg, confident.ckpt,
                        '--out-file', out, '--device', 'cpu')
    _assert_skeleton(_read_rgb(out), original, 'demo/image_demo.py')

    out = trained.root / 'image_demo_skeleton_heatmap.png'
    run_tool_in_process(IMAGE_DEMO_PY, image, confident.cfg, confident.ckpt,
                        '--out-file', out, '--device', 'cpu', '--draw-heatmap')
    picture = _read_rgb(out)
    assert picture.shape[0] == 2 * original.shape[0], \
        'image_demo --draw-heatmap: no heatmap panel under the image'
    _assert_skeleton(picture[:original.shape[0]], original,
                     'demo/image_demo.py --draw-heatmap')


def test_stock_test_py_show_dir_draws_skeleton(trained, confident):
    work = trained.root / 'test_show'
    # mmengine's visualisers are named process-wide singletons: an earlier
    # in-process run's 'visualizer' (another dataset's colours) would be
    # reused here, so this run gets a name of its own, as a fresh process
    run_tool_in_process(TEST_PY, confident.cfg, confident.ckpt, '--work-dir',
                        work, '--show-dir', 'vis', '--cfg-options',
                        'visualizer.name=show_dir_test')
    pictures = sorted(work.glob('*/vis/*.jpg'))
    assert len(pictures) == 5, \
        f'tools/test.py --show-dir wrote {len(pictures)} pictures, not 5'
    with open(osp.join(trained.data_root, 'annotations',
                       'mpii_sample.json')) as f:
        names = {a['image'] for a in json.load(f)}
    for picture in pictures:
        name = picture.name.rsplit('_', 1)[0] + '.jpg'
        assert name in names, f'unexpected picture {picture.name}'
        original = _read_rgb(osp.join(trained.data_root, 'images', name))
        # the box is drawn green as well
        _assert_skeleton(
            _read_rgb(picture), original,
            f'tools/test.py --show-dir ({picture.name})', **JPEG)


def test_mmpose_inferencer_demo_draws_skeleton(trained, confident):
    _, image = _sample_box(trained.data_root)
    out = trained.root / 'inferencer_demo'
    run_tool_in_process(INFERENCER_DEMO_PY, image, '--pose2d', confident.cfg,
                        '--pose2d-weights', confident.ckpt, '--det-model',
                        'whole_image', '--device', 'cpu', '--vis-out-dir', out,
                        '--pred-out-dir', out / 'preds')
    _assert_skeleton(
        _read_rgb(out / osp.basename(image)), _read_rgb(image),
        'demo/inferencer_demo.py', **JPEG)
    stem = osp.splitext(osp.basename(image))[0]
    with open(out / 'preds' / f'{stem}.json') as f:
        person = json.load(f)[0]
    _assert_sigma_fields(person, 'inferencer_demo.py --pred-out-dir')


def _assert_sigma_fields(person, where):
    sigmas = np.asarray(person.get('keypoint_sigmas'))
    assert sigmas.shape == (16, 2) and (sigmas > 0).all(), \
        f'{where}: keypoint_sigmas {sigmas}'
    assert isinstance(person.get('sigma_calibrated'), bool), \
        f'{where}: sigma_calibrated {person.get("sigma_calibrated")!r}'


def test_mmpose_inferencer_api_draws_skeleton(trained, confident):
    from mmpose.apis import MMPoseInferencer
    _, image = _sample_box(trained.data_root)
    inferencer = MMPoseInferencer(
        pose2d=str(confident.cfg),
        pose2d_weights=str(confident.ckpt),
        det_model='whole_image',
        device='cpu')
    result = next(inferencer(image, return_vis=True))
    person = result['predictions'][0][0]
    scores = np.asarray(person['keypoint_scores'])
    assert scores.shape == (16,) and scores.min() > 0.9, \
        f'MMPoseInferencer: keypoint scores {scores}'
    _assert_sigma_fields(person, 'MMPoseInferencer')
    _assert_skeleton(result['visualization'][0], _read_rgb(image),
                     'MMPoseInferencer')


@pytest.mark.parametrize('estimator',
                         ['TopdownPoseEstimator', 'MSTopdownPoseEstimator'])
def test_sigmas_follow_the_image_scale_in_every_estimator(trained, estimator):
    """The same person in an image scaled by 2 (its box too) gets sigmas
    x2 (within 3 %: the crop is resampled, so the network's input differs
    slightly), under MMPose's stock estimator as under the project's."""
    import cv2
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model
    box, image = _sample_box(trained.data_root)
    cfg = Config.fromfile(str(trained.cfg))
    cfg.model.type = estimator
    model = init_model(cfg, str(trained.ckpt), device='cpu')
    img = cv2.imread(image)
    big = cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    one = inference_topdown(model, img, np.array([box]))[0]
    two = inference_topdown(model, big, np.array(box)[None] * 2)[0]
    ratio = np.median(
        np.asarray(two.pred_instances.keypoint_sigmas) /
        np.asarray(one.pred_instances.keypoint_sigmas))
    assert abs(ratio - 2) < 0.06, f'{estimator}: sigmas x{ratio:.3f}'
