"""Installer of sadinet-mmpose (an MMPose plugin implementing SADI-Net)."""
import os.path as osp
from setuptools import find_namespace_packages, setup


def read_version():
    """Read ``__version__`` from ``sadinet_mmpose/version.py`` without
    importing."""
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'sadinet_mmpose',
                       'version.py')) as f:
        exec(f.read(), namespace)  # noqa: S102  (a constant, our own file)
    return namespace['__version__']


setup(
    name='sadinet-mmpose',
    version=read_version(),
    description='SADI-Net (Spatial Attention-based Distribution Integration '
    'Network) for human pose estimation, as an MMPose 1.x plugin',
    long_description=open('README.md').read()
    if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    # Namespace discovery: folders without an __init__.py that the package
    # reads at run time (datasets/metainfo/lsp.py, a config-style file opened
    # by path) are shipped with their .py files too.
    packages=find_namespace_packages(
        include=['sadinet_mmpose', 'sadinet_mmpose.*'],
        exclude=['*.__pycache__']),
    license='Apache-2.0',
    license_files=['LICENSE'],
    python_requires='>=3.9,<3.13',
    # The full, pinned stack is installed by tools/setup_env.sh (see
    # requirements.txt for why mmpose and xtcocotools need special handling).
    install_requires=[
        'torch', 'mmengine>=0.10,<0.11', 'numpy', 'opencv-python'
    ],
    extras_require={
        'tests': ['pytest>=8', 'pytest-timeout>=2.3'],
        # MMPose's lint (setup.cfg, .pre-commit-config.yaml)
        'lint': ['flake8==7.5.0', 'isort==5.13.2', 'yapf==0.43.0'],
    },
    zip_safe=False,
)
