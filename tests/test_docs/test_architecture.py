"""docs/architecture.md's registered-names table matches the registries.

Every module of the package is imported (not only what ``__init__`` imports),
then every mmengine ``Registry`` in the process and mmengine's file backends
are searched for objects defined in ``sadinet_mmpose``. Each must have a row
``| registry | `name` | file |`` naming its registry, its registered name and
the file (under ``sadinet_mmpose/``) that defines it; each row must name one.
"""
import gc
import importlib
import inspect
import os.path as osp
import pkgutil
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO, 'docs', 'architecture.md')
BACKENDS = 'mmengine.fileio backends'


def import_all_modules() -> list:
    """Import every module of the package; returns those left out because
    an optional third-party package is missing (as ``name: reason``)."""
    import sadinet_mmpose
    skipped = []
    for info in pkgutil.walk_packages(sadinet_mmpose.__path__,
                                      'sadinet_mmpose.'):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as e:
            if (e.name or '').split('.')[0] == 'sadinet_mmpose':
                raise
            skipped.append(f'{info.name}: {e}')
    return skipped


def registry_label(registry, labels: dict) -> str:
    """``MODELS`` for mmpose's registries, ``mmengine MODELS`` for root
    ones, ``scope:name`` for any other."""
    return labels.get(id(registry), f'{registry.scope}:{registry.name}')


def registered_entries() -> set:
    """(registry label, name, file under sadinet_mmpose/) of every object
    of the package found in a registry or a file backend table."""
    import mmengine.registry as mmengine_registry
    import mmpose.registry as mmpose_registry
    from mmengine.fileio.backends import registry_utils
    from mmengine.registry import Registry

    labels = {}
    for prefix, module in (('', mmpose_registry), ('mmengine ',
                                                   mmengine_registry)):
        for const, value in vars(module).items():
            if isinstance(value, Registry):
                labels.setdefault(id(value), prefix + const)

    def own_file(obj):
        module = getattr(obj, '__module__', '') or ''
        if not module.startswith('sadinet_mmpose.'):
            return None
        path = inspect.getsourcefile(obj)
        return osp.relpath(path,
                           osp.join(REPO,
                                    'sadinet_mmpose')).replace(osp.sep, '/')

    entries = set()
    registries = [o for o in gc.get_objects() if isinstance(o, Registry)]
    for registry in registries:
        for name, obj in registry.module_dict.items():
            path = own_file(obj)
            if path:
                entries.add((registry_label(registry, labels), name, path))
    for name, backend in registry_utils.backends.items():
        path = own_file(backend)
        if path:
            entries.add((BACKENDS, name, path))
    return entries


def documented_entries(text: str) -> set:
    """(registry, name, file) rows of the 'Registered names' table."""
    section = text.split('## Registered names', 1)
    assert len(
        section) == 2, 'docs/architecture.md has no "## Registered names"'
    rows = set()
    for line in section[1].splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if len(cells) != 3 or cells[0] in ('registry', '---'):
            continue
        names = re.findall(r'`([^`]+)`', cells[1])
        assert len(names) == 1, f'one `name` per row: {line}'
        rows.add((cells[0], names[0], cells[2]))
    return rows


def test_table_parser_reads_rows():
    text = ('intro\n## Registered names\n\n| registry | name | file |\n'
            '| --- | --- | --- |\n| MODELS | `A` | models/a.py |\n'
            '| HOOKS | `B` | engine/b.py |\n')
    assert documented_entries(text) == {('MODELS', 'A', 'models/a.py'),
                                        ('HOOKS', 'B', 'engine/b.py')}


def test_registered_names_table_matches_the_registries():
    skipped = import_all_modules()
    found = registered_entries()
    assert len({name for _, name, _ in found}) >= 20, \
        f'too few registered classes found, is the search broken? {found}'
    with open(DOC) as f:
        rows = documented_entries(f.read())
    fmt = '\n'.join
    missing = sorted(found - rows)
    assert not missing, (
        'registered but without a row (registry, name, file) in '
        'docs/architecture.md:\n' + fmt(map(str, missing)))
    stale = sorted(rows - found)
    if skipped:  # rows of modules that could not be imported here
        stale = [
            r for r in stale
            if not osp.isfile(osp.join(REPO, 'sadinet_mmpose', r[2]))
        ]
    assert not stale, (
        'rows of docs/architecture.md that name no registered class (or the '
        'wrong registry/file):\n' + fmt(map(str, stale)))


@pytest.mark.parametrize(
    'folder',
    ['sadinet_mmpose', 'tools', 'benchmarks', 'configs', 'tests', 'docs'])
def test_layout_names_existing_folders(folder):
    """The layout block names the top-level folders, and they exist."""
    with open(DOC) as f:
        layout = f.read().split('## Layout', 1)[1].split('## ', 1)[0]
    assert re.search(rf'^{folder}/', layout, re.M), \
        f'{folder}/ missing from the layout of docs/architecture.md'
    assert osp.isdir(osp.join(REPO, folder)), f'{folder}/ does not exist'
