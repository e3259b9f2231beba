"""model-index.yml and the GALA / LORT metafiles: every config listed
exists, every GALA and LORT config is listed, no weights are claimed, and
every result is a figure of docs/results.md."""
import glob
import os.path as osp

import yaml

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load(path):
    with open(osp.join(REPO_ROOT, path)) as f:
        return yaml.safe_load(f)


def test_metafiles_list_the_configs_and_only_measured_results():
    models = [
        model for metafile in load('model-index.yml')['Import']
        for model in load(metafile)['Models']
    ]
    configs = [model['Config'] for model in models]
    assert len(set(configs)) == len(configs)
    for config in configs:
        assert osp.isfile(osp.join(REPO_ROOT, config)), config
    expected = {
        osp.relpath(path, REPO_ROOT)
        for folder in ('gala', 'lort')
        for path in glob.glob(osp.join(REPO_ROOT, 'configs', folder, '*.py'))
    }
    assert expected <= set(configs)
    with open(osp.join(REPO_ROOT, 'docs', 'results.md')) as f:
        results_page = f.read()
    for model in models:
        assert 'Weights' not in model, model['Name']
        for result in model.get('Results', []):
            for value in result['Metrics'].values():
                # a mean of the results page's tables: "| 71.1 ± 0.7 |"
                assert f'| {value:.1f} ± ' in results_page, (model['Name'],
                                                            value)
