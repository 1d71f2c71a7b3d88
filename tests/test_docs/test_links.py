"""Every relative link in the repository's markdown files resolves.

Checked: inline links and images ``[text](target)``, reference definitions
``[label]: target`` and HTML ``href``/``src`` attributes, outside code
blocks and code spans, in every ``*.md`` file git tracks. Web and mail
addresses and in-page anchors are not checked; ``#fragment`` and
``?query`` parts are dropped; a target starting with ``/`` is taken from the
repository root (as GitHub does).
"""
import os
import os.path as osp
import re
import subprocess
import sys
from urllib.parse import unquote

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SKIP_DIRS = {'.git', '.venv', 'work_dirs', 'data', 'node_modules'}

FENCE = re.compile(r'^( {0,3})(`{3,}|~{3,}).*?^\1\2[`~]*[ \t]*$', re.M | re.S)
CODE_SPAN = re.compile(r'(`+)(?!`).+?(?<!`)\1(?!`)', re.S)
INLINE = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)')
REFERENCE = re.compile(r'^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)', re.M)
HTML = re.compile(r'\b(?:href|src)\s*=\s*["\']([^"\']+)["\']', re.I)
EXTERNAL = re.compile(r'^(?:[a-z][a-z0-9+.-]*:|//)', re.I)


def markdown_files() -> list:
    """The tracked ``*.md`` files (all of them outside build folders when
    the tree is not a git checkout), relative to the repository."""
    try:
        out = subprocess.run(['git', 'ls-files', '-z', '--', '*.md'],
                             cwd=REPO,
                             capture_output=True,
                             check=True)
        return sorted(p for p in out.stdout.decode().split('\0') if p)
    except (OSError, subprocess.CalledProcessError):
        found = []
        for folder, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            found += [
                osp.relpath(osp.join(folder, f), REPO) for f in files
                if f.endswith('.md')
            ]
        return sorted(found)


def link_targets(text: str) -> list:
    """Relative link targets of a markdown text, in order of appearance."""
    text = CODE_SPAN.sub('', FENCE.sub('', text))
    targets = [
        m.group(1) for pattern in (INLINE, REFERENCE, HTML)
        for m in pattern.finditer(text)
    ]
    relative = []
    for target in targets:
        target = target.strip('<>')
        if not target or target.startswith('#') or EXTERNAL.match(target):
            continue
        relative.append(unquote(re.split(r'[#?]', target, 1)[0]))
    return [t for t in relative if t]


def broken_links(md_path: str) -> list:
    """Targets of ``md_path`` (relative to the repository) that do not
    exist."""
    with open(osp.join(REPO, md_path), encoding='utf-8') as f:
        text = f.read()
    base = osp.dirname(osp.join(REPO, md_path))
    broken = []
    for target in link_targets(text):
        path = (
            osp.join(REPO, target.lstrip('/'))
            if target.startswith('/') else osp.join(base, target))
        if not osp.exists(path):
            broken.append(target)
    return broken


def test_link_parser():
    text = '\n'.join([
        'See [a](docs/a.md), [b](<docs/b c.md>) and ![img](pics/x.png "t").',
        '[web](https://example.org/x.md) [mail](mailto:a@b.c) [top](#usage)',
        '[part](docs/c.md#section) [q](d.md?plain=1) [esc](e%20f.md)',
        '`[not](code.md)` and a [nested [label]](g.md)',
        '```shell',
        'echo [fenced](fenced.md)',
        '```',
        '[ref]: refs/h.md',
        '<a href="i.md">i</a> <img src="/j.png">',
    ])
    assert link_targets(text) == [
        'docs/a.md', 'docs/b c.md', 'pics/x.png', 'docs/c.md', 'd.md',
        'e f.md', 'g.md', 'refs/h.md', 'i.md', '/j.png'
    ]


def test_a_missing_target_is_reported(tmp_path, monkeypatch):
    (tmp_path / 'docs').mkdir()
    (tmp_path / 'docs' / 'there.md').write_text('x')
    (tmp_path / 'docs' / 'page.md'
     ).write_text('[ok](there.md) [up](../docs/there.md) [gone](missing.md)')
    monkeypatch.setattr(sys.modules[__name__], 'REPO', str(tmp_path))
    assert broken_links('docs/page.md') == ['missing.md']


def test_there_are_markdown_files_to_check():
    files = markdown_files()
    assert 'docs/architecture.md' in files and 'benchmarks/README.md' in files


@pytest.mark.parametrize('md_path', markdown_files())
def test_relative_links_resolve(md_path):
    broken = broken_links(md_path)
    assert not broken, f'{md_path}: links to missing files: {broken}'
