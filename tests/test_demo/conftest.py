import os.path as osp
import sys

# `demo` is a top-level folder of the repository, not part of the installed
# `mmlt` package: make it importable however pytest is started.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
