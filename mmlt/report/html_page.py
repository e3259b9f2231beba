"""The self-contained HTML page of the long-tail report: inline CSS, figures
embedded as base64 PNG, no scripts, nothing fetched.
"""
import base64
import html
import math
from typing import Dict, List, Optional, Sequence, Set

# The tail-confusion table lists at most this many few-shot classes (those
# with the lowest mean accuracy over the results); report.json has all.
MAX_TAIL_ROWS = 50

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; } td.num { text-align: right; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9em; }
"""

HEADLINE_COLUMNS = (('top1', 'Top-1 %'), ('mean_class_acc', 'Mean/class %'),
                    ('many', 'Many %'), ('medium', 'Medium %'),
                    ('few', 'Few %'), ('ece', 'ECE %'), ('lm', 'LM'), ('rsd',
                                                                       'RSD'))


def _fmt(value: Optional[float], digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'n/a'
    return f'{value:.{digits}f}'


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode('ascii')
    return (f'<img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(alt)}">')


def _table(header: Sequence[str],
           rows: List[List[str]],
           numeric: Optional[Set[int]] = None) -> str:
    """An HTML table; cells are HTML already. ``numeric``: the right-aligned
    columns (default: all but the first)."""
    if numeric is None:
        numeric = set(range(1, len(header)))
    head = ''.join(f'<th>{html.escape(h)}</th>' for h in header)
    body = []
    for row in rows:
        cells = ''.join(
            f'<td class="num">{c}</td>' if i in numeric else f'<td>{c}</td>'
            for i, c in enumerate(row))
        body.append(f'<tr>{cells}</tr>')
    return f'<table><tr>{head}</tr>{"".join(body)}</table>'


def render_page(report: Dict, figures: Dict[str, bytes]) -> str:
    """The HTML page of a report.

    Args:
        report (dict): As :func:`build_report` returns (JSON-ready).
        figures (dict[str, bytes]): PNG bytes by the file names in
            ``report['figures']``.

    Returns:
        str: The page.
    """
    names = report['classes']
    counts = report['train_class_counts']
    results = report['results']
    fig_names = report['figures']
    group_sizes = report['shot_groups']['num_classes']
    out = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<title>Long-tail report</title>'
        f'<style>{_STYLE}</style></head><body>', '<h1>Long-tail report</h1>',
        f'<p class="note">{len(names)} classes, {report["num_samples"]} test '
        f'samples, {sum(counts)} training images. Shot groups by training '
        f'images: many &gt; {report["shot_groups"]["many_shot_thr"]} '
        f'({group_sizes["many"]} classes), medium '
        f'{report["shot_groups"]["low_shot_thr"]}..'
        f'{report["shot_groups"]["many_shot_thr"]} '
        f'({group_sizes["medium"]}), few &lt; '
        f'{report["shot_groups"]["low_shot_thr"]} ({group_sizes["few"]}). '
        'Accuracies are means of per-class accuracies (top-1 excepted); '
        'accuracies and ECE in %. Every number is in report.json.</p>'
    ]

    columns = [(k, h) for k, h in HEADLINE_COLUMNS
               if any(k in r['metrics'] for r in results)]
    rows = [[html.escape(r['name'])] + [
        _fmt(r['metrics'].get(k), 3 if k == 'rsd' else 2) for k, _ in columns
    ] for r in results]
    out += [
        '<h2>1. Headline figures</h2>',
        _table(['Result'] + [h for _, h in columns],
               rows), '<p class="note">Sources: ' +
        '; '.join(f'{html.escape(r["name"])}: {html.escape(r["source"])}'
                  for r in results) + '</p>'
    ]

    out += [
        '<h2>2. Per-class accuracy against training images</h2>',
        _image(figures[fig_names['class_accuracy']],
               'per-class accuracy against training images'),
        '<p class="note">Each point is the mean accuracy of the classes '
        'with that training count (or, with many distinct counts, within a '
        'log-count bin); shaded: shot groups.</p>'
    ]

    out.append('<h2>3. Tail confusions</h2>')
    tail = _tail_rows(report)
    if tail is None:
        out.append('<p>No few-shot class has test samples.</p>')
    else:
        header, rows, shown, total = tail
        if shown < total:
            out.append(f'<p class="note">The {shown} of {total} few-shot '
                       'classes with the lowest mean accuracy; all are in '
                       'report.json.</p>')
        out.append(_table(header, rows, numeric={1, 2}))
    kind = results[0]['confusion']['kind']
    out.append(
        '<p class="note">Confusion matrices, rows and columns ordered by '
        'training images (head first)' +
        ('; aggregated into shot groups (more than '
         f'{report["full_confusion_max_classes"]} classes).</p>' if kind ==
         'shot_groups' else '.</p>'))
    out.append('<div class="figures">' + ''.join(
        _image(figures[f], f'confusion matrix of {r["name"]}')
        for r, f in zip(results, fig_names['confusion'])) + '</div>')

    out += [
        '<h2>4. Reliability diagrams</h2>', '<div class="figures">' + ''.join(
            _image(figures[f], f'reliability diagram of {r["name"]}')
            for r, f in zip(results, fig_names['reliability'])) + '</div>'
    ]

    out.append('<h2>5. Logits Magnitude and RSD per class</h2>')
    if 'logits' in fig_names:
        without = [r['name'] for r in results if 'lm' not in r]
        out.append(_image(figures[fig_names['logits']], 'LM and RSD'))
        if without:
            out.append('<p class="note">Without logits (no '
                       '<code>pred_logits</code> in the dump): ' +
                       html.escape(', '.join(without)) + '.</p>')
    else:
        out.append('<p>No result carries logits (<code>pred_logits</code>, '
                   'written by <code>LogitsLinearClsHead</code>).</p>')

    out.append('<h2>6. Training</h2>')
    if report['training']:
        for run, f in zip(report['training'], fig_names['training']):
            out.append(_image(figures[f], f'training of {run["name"]}'))
            if not run['ratios']:
                out.append(f'<p class="note">{html.escape(run["name"])}: no '
                           'GALA gradient ratios in the log.</p>')
    else:
        out.append('<p>No training work dir given (<code>--work-dir</code>)'
                   '.</p>')

    out.append('<h2>7. Re-balancing tau on the validation split</h2>')
    if report['tau_sweeps']:
        out.append('<div class="figures">' + ''.join(
            _image(figures[f], f'tau sweep {s["name"]}')
            for s, f in zip(report['tau_sweeps'], fig_names['tau'])) +
                   '</div>')
        out.append(
            _table(['Sweep', 'Method', 'Chosen by', 'Chosen tau'], [[
                html.escape(s['name']),
                html.escape(s['method']),
                html.escape(s['metric']), f'{s["best_tau"]:g}'
            ] for s in report['tau_sweeps']],
                   numeric={3}))
    else:
        out.append('<p>No select_tau.py table given (<code>--tau-sweep'
                   '</code>).</p>')
    out.append('</body></html>')
    return '\n'.join(out)


def _tail_rows(report: Dict):
    """Header and rows of the tail-confusion table, or None."""
    names, counts, results = (report['classes'], report['train_class_counts'],
                              report['results'])
    by_result = [{
        e['class']: e
        for e in r['tail_confusions']
    } for r in results]
    classes = sorted(by_result[0])
    if not classes:
        return None

    def mean_accuracy(c):
        values = [r['class_accuracy'][c] for r in results]
        return sum(values) / len(values)

    shown = sorted(classes, key=lambda c: (mean_accuracy(c), c))
    shown = sorted(shown[:MAX_TAIL_ROWS])
    header = ['Few-shot class', 'Train', 'Test'] + [
        f'{r["name"]}: acc %, predicted as (samples)' for r in results
    ]
    rows = []
    for c in shown:
        row = [
            html.escape(names[c]),
            str(counts[c]),
            str(results[0]['eval_count'][c])
        ]
        for r, entries in zip(results, by_result):
            entry = entries[c]
            confused = ', '.join(
                f'{html.escape(names[k])} ({n})'
                for k, n in zip(entry['predicted'], entry['counts']))
            row.append(f'{_fmt(r["class_accuracy"][c], 1)}; '
                       f'{confused or "none"}')
        rows.append(row)
    return header, rows, len(shown), len(classes)
