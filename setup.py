import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

# What `mim train mmlt CONFIG`, `mim test mmlt ...` and `mmlt::` config paths
# read from the installed package, as in MMPretrain's setup.py.
MIM_FILES = ('tools', 'configs', 'model-index.yml')


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join('mmlt', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(path: str) -> list:
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Put ``MIM_FILES`` into ``mmlt/.mim`` (git-ignored): symbolic links for
    ``python setup.py develop``, copies when building a wheel or an sdist
    (``pip install .`` builds a wheel). Other commands leave it alone."""
    if 'develop' in sys.argv:
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    repo_path = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo_path, 'mmlt', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src_path = osp.join(repo_path, name)
        tar_path = osp.join(mim_path, name)
        if osp.islink(tar_path) or osp.isfile(tar_path):
            os.remove(tar_path)
        elif osp.isdir(tar_path):
            shutil.rmtree(tar_path)
        if mode == 'symlink':
            os.symlink(osp.relpath(src_path, mim_path), tar_path)
        elif osp.isdir(src_path):
            shutil.copytree(
                src_path,
                tar_path,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src_path, tar_path)


add_mim_extension()
setup(
    name='mmlt',
    version=read_version(),
    description='Long-tailed image classification for MMPretrain: GALA, '
    'prediction re-balancing, LORT, long-tailed datasets and metrics.',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmlt', 'mmlt.*']),
    package_data={
        'mmlt': [
            '.mim/model-index.yml', '.mim/configs/**/*.py',
            '.mim/configs/**/*.yml', '.mim/configs/**/*.md', '.mim/tools/*',
            '.mim/tools/**/*.py'
        ]
    },
    python_requires='>=3.8',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': ['pytest>=7'],
        # `mim train mmlt CONFIG`, `mim test mmlt CONFIG --checkpoint ...`
        'mim': ['openmim>=0.3.9'],
        # TensorBoard logging: `visualizer.vis_backends` with
        # `TensorboardVisBackend` (the GALA diagnostics among the scalars)
        'tensorboard': ['tensorboard'],
    },
    license='Apache License 2.0',
    zip_safe=False,
)
