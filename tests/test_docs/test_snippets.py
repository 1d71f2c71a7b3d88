"""The commands and code snippets of README.md, docs/ and benchmarks/README.md.

- Every command names scripts and paths that exist (in this repository, or
  in the installed MMPose for its own tools), every repository script it
  runs answers ``--help``, and the quick start's commands run as written
  (placeholders replaced by a trained tiny model, a sample image and a box).
- Every Python snippet is run or built here: the table ``PYTHON_SNIPPETS``
  names what is done with each one, and a snippet without an entry fails.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

from helpers import REPO  # noqa: E402

DOCS = ['README.md', 'benchmarks/README.md'] + sorted(
    osp.join('docs', f)
    for f in os.listdir(osp.join(REPO, 'docs')) if f.endswith('.md'))
#: First words of a line that make it a command.
PROGRAMS = ('python', '.venv/bin/python', 'bash', 'mim', 'torchrun', 'source',
            'pip')
#: Repository folders whose paths a command may name.
REPO_DIRS = ('configs/', 'tools/', 'benchmarks/', 'tests/', 'sadinet_mmpose/',
             'docs/')
#: Options whose value is written, not read.
OUTPUT_OPTIONS = ('--out', '--json', '--out-dir', '--work-dir', '--results',
                  '--wheels', '--data-root', '--site')


def fenced_blocks(doc):
    """``(language, text)`` of every fenced block of ``doc``."""
    with open(osp.join(REPO, doc), encoding='utf-8') as f:
        text = f.read()
    return re.findall(r'^ *```(\w*)\n(.*?)^ *```', text, re.S | re.M)


def command_lines(text):
    """The command lines of a block: continuations joined, comments and
    here-documents dropped."""
    lines, current, heredoc = [], '', None
    for raw in text.splitlines():
        line = raw.strip()
        if heredoc is not None:
            if line == heredoc:
                heredoc = None
            continue
        if not current and (not line or line.startswith('#')):
            continue
        current += ' ' + line.rstrip('\\').strip()
        if line.endswith('\\'):
            continue
        match = re.search(r"<<\s*'?(\w+)'?", current)
        if match:
            heredoc = match.group(1)
        cmd = re.split(r'\s+#\s', current.strip())[0].strip()
        if cmd.split(' ', 1)[0].split('=')[0] in PROGRAMS or re.match(
                r'^[A-Z]+=\S+$', cmd):
            lines.append(cmd)
        current = ''
    return lines


def all_commands():
    out = []
    for doc in DOCS:
        for lang, text in fenced_blocks(doc):
            if lang in ('', 'bash', 'shell', 'sh'):
                out += [(doc, c) for c in command_lines(text)]
    return out


COMMANDS = all_commands()


def _mmpose_root():
    import mmpose
    return osp.dirname(mmpose.__file__)


def named_paths(cmd):
    """Paths a command reads: repository paths and MMPose's own tools."""
    words = shlex.split(cmd.replace('$CFG', 'CFG'), posix=True)
    paths = []
    for prev, word in zip([''] + words, words):
        if prev in OUTPUT_OPTIONS or '=' in word and not word.startswith(
                REPO_DIRS):
            continue
        if word.startswith(REPO_DIRS):
            paths.append(osp.join(REPO, word))
        elif '/.mim/tools/' in word:
            paths.append(
                osp.join(_mmpose_root(), '.mim', 'tools',
                         word.split('/.mim/tools/', 1)[1]))
    if cmd.startswith('CFG='):
        paths.append(osp.join(REPO, cmd.split('=', 1)[1]))
    return paths


def test_the_docs_hold_commands():
    docs = {doc for doc, _ in COMMANDS}
    assert {
        'README.md', 'docs/data.md', 'docs/deploy.md', 'benchmarks/README.md'
    } <= docs, docs
    assert len(COMMANDS) >= 25, COMMANDS


@pytest.mark.parametrize(
    'doc,cmd', COMMANDS, ids=[f'{d}:{c[:50]}' for d, c in COMMANDS])
def test_every_named_path_exists(doc, cmd):
    missing = [p for p in named_paths(cmd) if not osp.exists(p)]
    assert not missing, f'{doc}: `{cmd}` names missing {missing}'


def _repo_scripts():
    scripts = set()
    for _, cmd in COMMANDS:
        words = cmd.split()
        if words[0].endswith('python') and len(words) > 1 and \
                words[1].endswith('.py') and words[1].startswith(REPO_DIRS):
            scripts.add(words[1])
    return sorted(scripts)


@pytest.mark.parametrize('script', _repo_scripts())
def test_every_script_run_by_the_docs_answers_help(script):
    proc = subprocess.run([sys.executable,
                           osp.join(REPO, script), '--help'],
                          capture_output=True,
                          text=True,
                          timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0 and 'usage' in proc.stdout.lower(), \
        f'{script} --help: exit {proc.returncode}\n{proc.stderr[-2000:]}'


def test_mim_commands_run_in_the_environment_the_readme_activates():
    readme = open(osp.join(REPO, 'README.md')).read()
    mim_at = readme.index('mim train mmpose')
    assert 'source .venv/bin/activate' in readme[:mim_at], \
        'the README must activate the environment before its mim lines'
    mim = osp.join(osp.dirname(sys.executable), 'mim')
    proc = subprocess.run([mim, '--help'],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0 and 'train' in proc.stdout, proc.stderr


# ---------------------------------------------------------------------------
# The quick start, as written
# ---------------------------------------------------------------------------
def _block_with(doc, needle):
    for lang, text in fenced_blocks(doc):
        if needle in text:
            return text
    raise AssertionError(f'{doc}: no block with {needle!r}')


def _sample_image(trained_tiny):
    images = osp.join(trained_tiny.data, 'images')
    return osp.join(images, sorted(os.listdir(images))[0])


def _fill(cmd, values):
    """``cmd`` with placeholders filled, repository paths made absolute (it
    runs in a scratch folder) and the environment's Python."""
    for key, value in values.items():
        cmd = re.sub(rf'\b{re.escape(key)}\b', value, cmd)
    cmd = re.sub(r'(?<![\w/.])((tools|benchmarks|configs)/)',
                 lambda m: osp.join(REPO, m.group(1)), cmd)
    cmd = cmd.replace('.venv/bin/python', shlex.quote(sys.executable))
    if cmd.startswith('python '):
        cmd = shlex.quote(sys.executable) + cmd[len('python'):]
    return cmd


@pytest.mark.slow
@pytest.mark.parametrize('doc,needle', [
    ('README.md', 'tools/demo.py CONFIG CHECKPOINT IMAGE'),
    ('docs/deploy.md', 'export_onnx.py CONFIG CHECKPOINT --out sadinet.onnx'),
])
def test_quick_start_commands_run(doc, needle, trained_tiny, tmp_path):
    """Demo, export and the torch-free runtime one-liner, with CONFIG,
    CHECKPOINT, IMAGE and the box filled in."""
    import shutil
    shutil.copy(_sample_image(trained_tiny), tmp_path / 'person.jpg')
    values = dict(
        CONFIG=trained_tiny.cfg,
        CHECKPOINT=trained_tiny.ckpt,
        IMAGE='person.jpg',
        X1='10',
        Y1='10',
        X2='180',
        Y2='220',
        x1='10',
        y1='10',
        x2='180',
        y2='220')
    for cmd in command_lines(_block_with(doc, needle)):
        cmd = _fill(cmd, values)
        proc = subprocess.run(
            cmd,
            shell=True,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path)
        assert proc.returncode == 0, f'{cmd}\n{proc.stderr[-3000:]}'
        if 'OnnxPoseEstimator' in cmd:
            assert '[[[' in proc.stdout, proc.stdout  # (1, K, 2) keypoints
    written = {p.name for p in tmp_path.iterdir()}
    assert written & {'pred.png', 'model.onnx', 'sadinet.onnx'}, written


# ---------------------------------------------------------------------------
# Python snippets
# ---------------------------------------------------------------------------
def _without_ellipsis(code):
    """A fragment with its ``...`` placeholders taken out."""
    return re.sub(r'\.\.\.,\s*', '', code)


def _config(tmp_path, base, code):
    from mmengine.config import Config
    path = tmp_path / 'snippet_cfg.py'
    path.write_text(f'_base_ = [{base!r}]\n' + _without_ellipsis(code))
    return Config.fromfile(str(path))


def _build_model(cfg):
    import torch
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope('mmpose')
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 256, 256))
    return model, feats


HRNET = ('mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
         'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py')
HOURGLASS = ('mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
             'td-hm_hourglass52_8xb64-210e_mpii-256x256.py')
MPII_CFG = ('configs/sadinet/'
            'td-hm_sadinet-rfm-sfm-dlm_2xb32-210e_mpii-256x256.py')


def _custom_imports(code, tmp_path):
    scope = {}
    exec(code, scope)
    assert scope['custom_imports']['imports'] == ['sadinet_mmpose']


def _hrnet_sfm_dlm(code, tmp_path):
    cfg = _config(tmp_path, HRNET, code)
    model, feats = _build_model(cfg)
    assert type(model.head).__name__ == 'DLMHead'
    assert feats[-1].shape == (1, 2048)
    # a loss that names nothing gets the shipped chi-weighted loss
    assert type(model.head.loss_module).__name__ == 'ChiWeightedLoss'


def _rfm_in_hourglass(code, tmp_path):
    cfg = _config(tmp_path, HOURGLASS, code)
    model, feats = _build_model(cfg)
    assert type(model.backbone).__name__ == 'RFMHourglass'
    assert feats[-1].shape[1] == 256


def _dilated_hrnet(code, tmp_path):
    cfg = _config(tmp_path, HRNET, code)
    cfg.model.backbone.init_cfg = None  # no ImageNet download
    model, _ = _build_model(cfg)
    assert type(model.backbone).__name__ == 'DilatedHRNet'


def _dilated_resnet(code, tmp_path):
    import torch
    from mmpose.registry import MODELS
    scope = {}
    exec(
        code.replace(
            '@MODELS.register_module()',
            "@MODELS.register_module(name='DocsDilatedResNet', "
            'force=True)'), scope)
    net = MODELS.build(
        dict(type='DocsDilatedResNet', depth=18, out_indices=(0, 1, 2, 3)))
    outs = net(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 128, 256, 512]


def _multiscale_test(code, tmp_path):
    from mmpose.registry import TRANSFORMS
    cfg = _config(tmp_path, osp.join(REPO, MPII_CFG), code)
    model, _ = _build_model(cfg)
    assert model.test_cfg['multiscale_test']['scales'] == cfg.ms_scales
    for t in cfg.test_pipeline:
        TRANSFORMS.build(t)


def _augmentation(code, tmp_path):
    from mmengine.config import Config
    from mmpose.registry import TRANSFORMS
    items = list(eval('(' + code.strip() + ')'))
    shipped = Config.fromfile(osp.join(REPO, MPII_CFG)).train_pipeline
    for item in items:
        assert item in shipped, f'{item} is not in {MPII_CFG}'
        TRANSFORMS.build(item)


def _dlm_head(code, tmp_path):
    import torch
    from mmpose.registry import MODELS
    scope = dict(
        codec=dict(
            type='FlowHeatmapCodec',
            input_size=(256, 256),
            heatmap_size=(64, 64)))
    exec('model = dict(' + code.strip() + '\n)', scope)
    head = MODELS.build(scope['model']['head'])
    h1, mu, sigma = head((torch.zeros(1, 256, 64, 64), torch.zeros(1, 2048)))
    assert h1[-1].shape == (1, 16, 64, 64) and mu.shape == (1, 16, 2)
    assert type(head.loss_module).__name__ == 'ChiWeightedLoss'


def _runtime(code, tmp_path, trained_tiny):
    import shutil

    from sadinet_mmpose.deploy.export import export_onnx, load_model
    export_onnx(
        load_model(trained_tiny.cfg, trained_tiny.ckpt),
        str(tmp_path / 'sadinet.onnx'))
    shutil.copy(_sample_image(trained_tiny), tmp_path / 'person.jpg')
    code = code.replace('x1, y1, x2, y2', '10, 10, 180, 220')
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope = {}
        exec(code, scope)
    finally:
        os.chdir(cwd)
    assert scope['out']['keypoints'].shape[:2] == (1, 16)


#: (doc, the snippet's first line) -> what the test does with it.
PYTHON_SNIPPETS = {
    ('docs/mixing.md', 'custom_imports = dict('): _custom_imports,
    ('docs/mixing.md', "codec = dict(type='FlowHeatmapCodec'"): _hrnet_sfm_dlm,
    ('docs/mixing.md', "model = dict(backbone=dict(_delete_=True"):
    _rfm_in_hourglass,
    ('docs/mixing.md', 'model = dict(backbone=dict('): _dilated_hrnet,
    ('docs/mixing.md', 'from mmpose.models.backbones import ResNet'):
    _dilated_resnet,
    ('docs/data.md', 'ms_scales = ['): _multiscale_test,
    ('docs/data.md', "dict(type='RandomFlip'"): _augmentation,
    ('docs/modules_head_loss.md', 'head=dict('): _dlm_head,
    ('docs/deploy.md', 'import cv2'): _runtime,
}


def python_snippets():
    out = []
    for doc in DOCS:
        for lang, text in fenced_blocks(doc):
            if lang == 'python':
                out.append((doc, text))
    return out


def _entry(doc, text):
    first = text.strip().splitlines()[0]
    keys = [
        k for k in PYTHON_SNIPPETS if k[0] == doc and first.startswith(k[1])
    ]
    # the longest matching start names the snippet
    return max(keys, key=lambda k: len(k[1])) if keys else None


def test_every_python_snippet_has_a_check():
    snippets = python_snippets()
    missing = [(d, t.splitlines()[0]) for d, t in snippets
               if _entry(d, t) is None]
    assert not missing, f'snippets no test runs: {missing}'
    assert len({_entry(d, t) for d, t in snippets}) == len(snippets), \
        'two snippets share an entry'


@pytest.mark.slow
@pytest.mark.parametrize(
    'doc,text',
    python_snippets(),
    ids=[f'{d}:{t.splitlines()[0][:40]}' for d, t in python_snippets()])
def test_python_snippet_runs(doc, text, tmp_path, request):
    import sadinet_mmpose  # noqa: F401
    check = PYTHON_SNIPPETS[_entry(doc, text)]
    if check is _runtime:
        check(text, tmp_path, request.getfixturevalue('trained_tiny'))
    else:
        check(text, tmp_path)


def test_readme_is_short():
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        assert len(f.read().splitlines()) <= 120
