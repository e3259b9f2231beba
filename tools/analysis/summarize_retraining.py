"""Average several classifier re-training studies (``results.json`` of
``tools/analysis/retrain_classifier.py``, e.g. one per seed) into Markdown
tables, mean ± std per method, one table per stage-1 config and training
profile.

Example::

    python tools/analysis/summarize_retraining.py \\
        work_dirs/study/*/results.json --out work_dirs/summary
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmlt.retraining.report import summarize_studies  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('results', nargs='+', help='results.json files')
    parser.add_argument(
        '--out', help='directory for summary.md and summary.json')
    args = parser.parse_args()
    results = []
    for path in args.results:
        with open(path) as f:
            results.append(json.load(f))
    text = summarize_studies(results)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'summary.md'), 'w') as f:
            f.write(text)
        with open(osp.join(args.out, 'summary.json'), 'w') as f:
            json.dump(dict(results=args.results, studies=results), f)


if __name__ == '__main__':
    main()
