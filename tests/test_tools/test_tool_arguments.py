"""mmlt's tools/train.py and tools/test.py take MMPretrain 1.2.0's command
line: the same arguments with the same actions, defaults, types and choices.

MMPretrain's tools are not part of its wheel, so their argument lists are
stored in ``tests/data/mmpretrain_1.2.0_tool_arguments.json`` (written from
the ``parse_args`` functions of MMPretrain v1.2.0's ``tools/train.py`` and
``tools/test.py``).
"""
import argparse
import importlib.util
import json
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = osp.join(REPO_ROOT, 'tests', 'data',
                   'mmpretrain_1.2.0_tool_arguments.json')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def describe(action: argparse.Action) -> dict:
    """The fields of the fixture, for one argument."""
    return dict(
        option_strings=list(action.option_strings),
        dest=action.dest,
        action=type(action).__name__,
        nargs=action.nargs,
        const=action.const,
        default=action.default,
        type=None if action.type is None else action.type.__name__,
        choices=None if action.choices is None else list(action.choices))


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_parser_matches_mmpretrain(tool):
    with open(FIXTURE) as f:
        expected = json.load(f)[tool]
    parser = load_tool(tool).build_parser()
    actual = [
        describe(action) for action in parser._actions
        if not isinstance(action, argparse._HelpAction)
    ]
    # Same arguments, in MMPretrain's order for the positionals.
    assert sorted(a['dest'] for a in actual) == sorted(e['dest']
                                                       for e in expected)
    by_dest = {a['dest']: a for a in actual}
    for argument in expected:
        assert by_dest[argument['dest']] == argument
    assert [a['dest'] for a in actual if not a['option_strings']] == \
        [e['dest'] for e in expected if not e['option_strings']]


def test_show_options_configure_the_visualization_hook(monkeypatch):
    from mmengine.config import Config
    test_tool = load_tool('test')
    config = osp.join(REPO_ROOT, 'tests', 'data', 'configs',
                      'tiny_lenet_lt.py')
    monkeypatch.setenv('LOCAL_RANK', '0')
    args = test_tool.parse_args([
        config, 'ckpt.pth', '--show-dir', 'vis', '--interval', '3',
        '--wait-time', '0.5', '--amp'
    ])
    cfg = test_tool.merge_args(Config.fromfile(config), args)
    visualization = cfg.default_hooks.visualization
    assert (visualization.enable, visualization.show, visualization.out_dir,
            visualization.interval, visualization.wait_time) == (True, False,
                                                                 'vis', 3, 0.5)
    assert cfg.test_cfg.fp16 is True
    # --show alone is not taken for --show-dir (argparse prefix matching).
    args = test_tool.parse_args([config, 'ckpt.pth', '--show'])
    assert args.show is True and args.show_dir is None
    with pytest.raises(SystemExit):
        test_tool.parse_args([config, 'ckpt.pth', '--interval', '0'])
