"""LICENSE and CITATION.cff agree with the package."""
import os.path as osp

import yaml

from sadinet_mmpose.version import __version__

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_license_is_apache_2():
    with open(osp.join(REPO, 'LICENSE')) as f:
        text = f.read()
    assert 'Apache License' in text and 'Version 2.0, January 2004' in text
    assert 'END OF TERMS AND CONDITIONS' in text, ('LICENSE is not the full '
                                                   'text')
    assert 'sadinet-mmpose contributors' in text


def test_citation_matches_the_package():
    with open(osp.join(REPO, 'CITATION.cff')) as f:
        cff = yaml.safe_load(f)
    assert cff['cff-version'] == '1.2.0'
    assert str(cff['version']) == __version__, \
        f"CITATION.cff version {cff['version']} != package {__version__}"
    assert cff['license'] == 'Apache-2.0'
    paper = cff['preferred-citation']
    assert paper['title'] == ('Spatial Attention-based Distribution '
                              'Integration Network for Human Pose Estimation')
    assert [a['family-names'] for a in paper['authors']
            ] == ['Gao', 'Zhu', 'Zhuang', 'Wang', 'Li']
