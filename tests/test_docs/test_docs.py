"""The docs cite the papers and the repository's own files: no notes, no
path outside the repository, and every repository file they name exists."""
import glob
import os.path as osp
import re

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOCS = ['README.md', 'demo/README.md', 'configs/gala/README.md',
        'configs/lort/README.md'] + sorted(
            osp.relpath(path, REPO_ROOT)
            for path in glob.glob(osp.join(REPO_ROOT, 'docs', '*.md')))
# `configs/...py`, `tools/....py` and the like, without placeholders.
REPO_PATH = re.compile(
    r'`((?:configs|tools|docs|mmlt|demo|benchmarks|requirements)/'
    r'[\w./-]+\.(?:py|md|sh|txt|yml))`')


@pytest.mark.parametrize('doc', DOCS)
def test_doc_cites_repository_files_only(doc):
    with open(osp.join(REPO_ROOT, doc)) as f:
        text = f.read()
    for outside in ('/work/', '../shared', 'shared/long-tail-notes'):
        assert outside not in text, (doc, outside)
    assert re.search(r'\b(the|project|our) notes\b', text, re.I) is None, doc
    for path in REPO_PATH.findall(text):
        assert osp.exists(osp.join(REPO_ROOT, path)), (doc, path)
