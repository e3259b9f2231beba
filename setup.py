import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join('mmlt', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(path: str) -> list:
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='mmlt',
    version=read_version(),
    description='Long-tailed image classification for MMPretrain: GALA, '
    'prediction re-balancing, LORT, long-tailed datasets and metrics.',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmlt', 'mmlt.*']),
    python_requires='>=3.8',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={'tests': ['pytest>=7']},
    license='Apache License 2.0',
    zip_safe=False,
)
