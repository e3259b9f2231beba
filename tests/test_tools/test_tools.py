"""End-to-end tests of tools/train.py, tools/test.py and the dist scripts on
a tiny long-tailed dataset (LeNet-5, 32x32 grayscale PNGs, CPU)."""
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import mmengine
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint
from torch.distributed.elastic.utils.distributed import get_free_port

import mmlt  # noqa: F401  (checkpoint loading policy)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'tests', 'data', 'configs', 'tiny_lenet_lt.py')
TRAIN_CLASS_SIZES = (10, 6, 3)  # matches train_class_counts of CONFIG
VAL_IMAGES_PER_CLASS = 5
TIMEOUT = 120


def write_tiny_dataset(root):
    """Class ``c`` images are noise plus a bright band at columns
    ``10c .. 10c+9``; train sizes 10 / 6 / 3, 5 val images per class."""
    rng = np.random.default_rng(0)
    splits = (('train', TRAIN_CLASS_SIZES),
              ('val', (VAL_IMAGES_PER_CLASS, ) * len(TRAIN_CLASS_SIZES)))
    for split, sizes in splits:
        for label, size in enumerate(sizes):
            folder = osp.join(root, split, f'class{label}')
            os.makedirs(folder)
            for index in range(size):
                image = rng.integers(0, 96, (32, 32)).astype(np.uint8)
                image[:, 10 * label:10 * label + 10] += 120
                cv2.imwrite(osp.join(folder, f'{index}.png'), image)


def run(args, data_root, **env):
    """Run a tool with the tiny dataset and return its combined output."""
    data_args = [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    full_env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHON=sys.executable,
        **env)
    full_env.pop('MMLT_TRUST_CHECKPOINTS', None)
    result = subprocess.run(
        args + ['--cfg-options'] + data_args,
        cwd=REPO_ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def python_tool(script, *args):
    """Command line of ``tools/<script> CONFIG args``."""
    return [sys.executable, f'tools/{script}', CONFIG, *map(str, args)]


def shell_tool(script, *args):
    """Command line of ``tools/<script> CONFIG args``."""
    return ['bash', f'tools/{script}', CONFIG, *map(str, args)]


def train(work_dir, data_root, *extra):
    return run(
        python_tool('train.py', '--work-dir', work_dir, *extra), data_root)


def load(path):
    return _load_checkpoint(str(path), map_location='cpu')


def assert_same_tensors(actual, expected):
    """Bit-exact equality of nested dicts / lists of tensors and scalars."""
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_same_tensors(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for item, expected_item in zip(actual, expected):
            assert_same_tensors(item, expected_item)
    elif isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected)
    else:
        assert actual == expected


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny_lt')
    write_tiny_dataset(str(root))
    return root


@pytest.fixture(scope='module')
def two_epoch_run(tmp_path_factory, data_root):
    """A single-process two-epoch training run, shared by the tests."""
    work_dir = tmp_path_factory.mktemp('two_epochs')
    output = train(work_dir, data_root)
    return work_dir, output


def test_train_single_process(two_epoch_run):
    work_dir, output = two_epoch_run
    checkpoint = load(work_dir / 'epoch_2.pth')
    iters_per_epoch = -(-sum(TRAIN_CLASS_SIZES) // 4)
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['meta']['iter'] == 2 * iters_per_epoch
    assert 'Epoch(val) [2]' in output and 'long-tail/mean_class_acc' in output


def test_dist_train_and_test_match_single_process(tmp_path, data_root):
    work_dir = tmp_path / 'dist'
    run(shell_tool('dist_train.sh', 2, '--work-dir', work_dir),
        data_root,
        PORT=str(get_free_port()))
    checkpoint_path = work_dir / 'epoch_2.pth'
    # 19 images split over 2 ranks (10 each after padding), batch 4.
    assert load(checkpoint_path)['meta']['iter'] == 2 * 3

    dist_metrics = tmp_path / 'dist_metrics.json'
    run(shell_tool('dist_test.sh', checkpoint_path, 2, '--work-dir',
                   tmp_path / 'dist_test', '--out', dist_metrics, '--out-item',
                   'metrics'),
        data_root,
        PORT=str(get_free_port()))
    single_metrics = tmp_path / 'single_metrics.json'
    run(
        python_tool('test.py', checkpoint_path, '--work-dir',
                    tmp_path / 'single_test', '--out', single_metrics,
                    '--out-item', 'metrics'), data_root)

    with open(dist_metrics) as f:
        dist = json.load(f)
    with open(single_metrics) as f:
        single = json.load(f)
    assert set(single) >= {
        'long-tail/top1', 'long-tail/mean_class_acc', 'long-tail/many',
        'long-tail/medium', 'long-tail/few', 'long-tail/ece'
    }
    # Same predictions; only float summation order may differ.
    assert dist == pytest.approx(single, rel=1e-9, abs=1e-12)


def test_resume_auto_matches_uninterrupted_run(tmp_path, data_root,
                                               two_epoch_run):
    resumed_dir = tmp_path / 'resumed'
    shutil.copytree(two_epoch_run[0], resumed_dir)
    output = train(resumed_dir, data_root, '--resume', '--cfg-options',
                   'train_cfg.max_epochs=3')
    assert 'resumed epoch: 2' in output
    uninterrupted_dir = tmp_path / 'uninterrupted'
    train(uninterrupted_dir, data_root, '--cfg-options',
          'train_cfg.max_epochs=3')

    resumed = load(resumed_dir / 'epoch_3.pth')
    expected = load(uninterrupted_dir / 'epoch_3.pth')
    assert_same_tensors(resumed['state_dict'], expected['state_dict'])
    assert_same_tensors(resumed['optimizer'], expected['optimizer'])
    assert_same_tensors(resumed['param_schedulers'],
                        expected['param_schedulers'])
    for key in ('epoch', 'iter', 'seed'):
        assert resumed['meta'][key] == expected['meta'][key]
    # Checkpoints are written before each epoch's validation, so only the
    # training history can match (the resumed hub misses epoch 2's val).
    hub, expected_hub = resumed['message_hub'], expected['message_hub']
    for key in ('train/loss', 'train/lr'):
        for history, expected_history in zip(
                hub['log_scalars'][key].data,
                expected_hub['log_scalars'][key].data):
            np.testing.assert_array_equal(history, expected_history)
    for key in ('epoch', 'iter', 'max_epochs', 'max_iters'):
        assert hub['runtime_info'][key] == expected_hub['runtime_info'][key]


def load_tool(name):
    """Import ``tools/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        f'tool_{name}', osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    'resume,has_checkpoint,expected_load_from,expected_resume', [
        ([], True, 'stage1.pth', False),
        (['--resume'], True, 'LATEST', True),
        (['--resume'], False, 'stage1.pth', False),
        (['--resume', 'run/epoch_3.pth'], False, 'run/epoch_3.pth', True),
    ])
def test_resume_wins_over_load_from_in_cfg_options(monkeypatch, tmp_path,
                                                   resume, has_checkpoint,
                                                   expected_load_from,
                                                   expected_resume):
    # A stage-2 run gets its stage-1 checkpoint from --cfg-options; adding
    # --resume must resume the run itself, not the stage-1 checkpoint, and
    # keep load_from when the work directory has nothing to resume.
    train_tool = load_tool('train')
    latest = str(tmp_path / 'epoch_1.pth')
    if has_checkpoint:
        (tmp_path / 'last_checkpoint').write_text(latest)
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args sets it otherwise
    monkeypatch.setattr(sys, 'argv', [
        'train.py', CONFIG, '--work-dir',
        str(tmp_path), *resume, '--cfg-options', 'load_from=stage1.pth'
    ])
    args = train_tool.parse_args()
    cfg = train_tool.merge_args(Config.fromfile(CONFIG), args)
    assert cfg.load_from == (latest if expected_load_from == 'LATEST' else
                             expected_load_from)
    assert cfg.get('resume', False) == expected_resume


def test_no_validate_with_val_cfg_options_is_refused(monkeypatch, tmp_path):
    # mmengine ended in "cannot inherit from base" before.
    train_tool = load_tool('train')
    monkeypatch.setenv('LOCAL_RANK', '0')

    def merged(*argv):
        monkeypatch.setattr(sys, 'argv', [
            'train.py', CONFIG, '--work-dir', str(tmp_path), '--no-validate',
            *argv
        ])
        return train_tool.merge_args(Config.fromfile(CONFIG),
                                     train_tool.parse_args())

    with pytest.raises(ValueError,
                       match=r"--no-validate removes val_cfg, val_dataloader "
                       r"and val_evaluator, but --cfg-options sets "
                       r"\['val_dataloader.batch_size'\]"):
        merged('--cfg-options', 'val_dataloader.batch_size=2')
    cfg = merged('--cfg-options', 'train_dataloader.batch_size=2')
    assert cfg.val_dataloader is None and cfg.train_dataloader.batch_size == 2


def test_resume_with_empty_work_dir_warns_and_keeps_load_from(
        tmp_path, data_root, two_epoch_run):
    stage1 = two_epoch_run[0] / 'epoch_2.pth'
    output = train(tmp_path / 'empty', data_root, '--resume', '--cfg-options',
                   f'load_from={stage1}', 'train_cfg.max_epochs=1')
    assert (f"--resume: no checkpoint found in work_dir='{tmp_path}/empty'"
            in output)
    assert ('training starts from iteration 0, from the weights of '
            f"load_from='{stage1}'") in output
    assert f'Load checkpoint from {stage1}' in output
    assert 'resumed epoch' not in output
    assert load(tmp_path / 'empty' / 'epoch_1.pth')['meta']['epoch'] == 1


@pytest.mark.parametrize('script,args', [
    ('dist_train.sh', []),
    ('dist_train.sh', ['0']),
    ('dist_train.sh', ['-1']),
    ('dist_train.sh', ['abc']),
    ('dist_test.sh', ['ckpt.pth']),
    ('dist_test.sh', ['ckpt.pth', '0']),
    ('dist_test.sh', ['ckpt.pth', '2.5']),
])
def test_dist_scripts_check_nproc(script, args):
    result = subprocess.run(
        shell_tool(script, *args),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    assert result.returncode == 2
    usage = {
        'dist_train.sh': 'CONFIG NPROC [ARGS...]',
        'dist_test.sh': 'CONFIG CHECKPOINT NPROC [ARGS...]'
    }[script]
    assert result.stdout.endswith(f'Usage: tools/{script} {usage}\n')
    if len(args) == (2 if script == 'dist_test.sh' else 1):
        assert (f"NPROC must be a positive integer (processes per node), "
                f"got '{args[-1]}'.") in result.stdout
    assert 'Traceback' not in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU path')
def test_amp_without_gpu_is_refused(tmp_path):
    result = subprocess.run(
        python_tool('train.py', '--amp', '--work-dir', tmp_path),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    assert result.returncode == 2
    assert '--amp needs one of the devices' in result.stdout
    assert "'cpu'" in result.stdout


def test_one_cycle_lr_resume_matches_uninterrupted_run(tmp_path, data_root):
    # OneCycleLR keeps its annealing function in the scheduler state, which
    # the weights-only checkpoint loading must accept for --resume.
    config = tmp_path / 'one_cycle.py'
    # An explicit `end`, for the reason given in CONFIG.
    config.write_text(f'''_base_ = [{CONFIG!r}]
param_scheduler = dict(
    _delete_=True, type='OneCycleLR', eta_max=0.1, total_steps=10,
    by_epoch=False, begin=0, end=10)
''')

    def train_one_cycle(work_dir, *extra):
        return run([
            sys.executable, 'tools/train.py',
            str(config), '--work-dir',
            str(work_dir), *extra
        ], data_root)

    train_one_cycle(tmp_path / 'first', '--cfg-options',
                    'train_cfg.max_epochs=1')
    first = tmp_path / 'first' / 'epoch_1.pth'
    assert load(first)['param_schedulers'][0]['anneal_func'].__name__ == \
        '_annealing_cos'
    output = train_one_cycle(tmp_path / 'resumed', '--resume', first)
    assert 'resumed epoch: 1' in output
    train_one_cycle(tmp_path / 'uninterrupted')

    resumed = load(tmp_path / 'resumed' / 'epoch_2.pth')
    expected = load(tmp_path / 'uninterrupted' / 'epoch_2.pth')
    assert_same_tensors(resumed['state_dict'], expected['state_dict'])
    assert_same_tensors(resumed['optimizer'], expected['optimizer'])
    assert_same_tensors(resumed['param_schedulers'],
                        expected['param_schedulers'])
    assert resumed['meta']['iter'] == expected['meta']['iter'] == 10


def merged_test_config(monkeypatch, cfg, *argv):
    """``tools/test.py``'s config after its command-line handling."""
    test_tool = load_tool('test')
    monkeypatch.setenv('LOCAL_RANK', '0')  # parse_args sets it otherwise
    monkeypatch.setattr(sys, 'argv', ['test.py', CONFIG, *argv])
    return test_tool.merge_args(cfg, test_tool.parse_args())


def test_checkpoint_argument_conflicts_with_load_from_option(monkeypatch):
    cfg = Config.fromfile(CONFIG)
    cfg.load_from = 'from_config.pth'
    cfg = merged_test_config(monkeypatch, cfg, 'ckpt.pth')
    assert cfg.load_from == 'ckpt.pth'
    cfg = merged_test_config(monkeypatch, Config.fromfile(CONFIG), 'ckpt.pth',
                             '--cfg-options', 'load_from=ckpt.pth')
    assert cfg.load_from == 'ckpt.pth'
    with pytest.raises(ValueError, match="'ckpt.pth' and --cfg-options "
                       "load_from='other.pth' name different"):
        merged_test_config(monkeypatch, Config.fromfile(CONFIG), 'ckpt.pth',
                           '--cfg-options', 'load_from=other.pth')


def mismatched_checkpoint(source, target, edit):
    """Write ``target``: the checkpoint ``source`` with ``edit`` applied to
    its state dict."""
    checkpoint = torch.load(source, map_location='cpu', weights_only=False)
    edit(checkpoint['state_dict'])
    torch.save(checkpoint, target)
    return str(target)


def test_test_tool_loads_the_checkpoint_strictly(tmp_path, two_epoch_run,
                                                 data_root, monkeypatch):
    test_tool = load_tool('test')
    monkeypatch.setenv('LOCAL_RANK', '0')
    source = two_epoch_run[0] / 'epoch_2.pth'

    def run_test(checkpoint):
        monkeypatch.setattr(sys, 'argv', [
            'test.py', CONFIG, checkpoint, '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            f'test_dataloader.dataset.data_root={data_root}'
        ])
        return test_tool.main()

    def more_classes(state_dict):  # a 4-class head on the 3-class model
        state_dict['head.fc.weight'] = torch.zeros(4, 120)
        state_dict['head.fc.bias'] = torch.zeros(4)

    def other_keys(state_dict):
        state_dict['head.extra.weight'] = state_dict.pop('head.fc.bias')

    with pytest.raises(
            ValueError,
            match=r'(?s)Checkpoint .*more_classes.pth does not fit the '
            r'model of .*tiny_lenet_lt.py.*size mismatch for '
            r'head.fc.weight: copying a param with shape '
            r'torch.Size\(\[4, 120\]\)'):
        run_test(
            mismatched_checkpoint(source, tmp_path / 'more_classes.pth',
                                  more_classes))
    with pytest.raises(
            ValueError,
            match=r'(?s)other_keys.pth does not fit.*unexpected key in '
            r'source state_dict: head.extra.weight.*missing keys in source '
            r'state_dict: head.fc.bias'):
        run_test(
            mismatched_checkpoint(source, tmp_path / 'other_keys.pth',
                                  other_keys))
    run_test(str(source))  # the matching checkpoint still loads


def test_experiment_layer_loads_checkpoints_strictly(tmp_path, two_epoch_run,
                                                     data_root):
    """The demo / benchmark / analysis-tool path refuses a checkpoint of
    another model, as tools/test.py does (issue 9 item 2, same pattern)."""
    from mmlt.experiments.runs import load_runner
    source = two_epoch_run[0] / 'epoch_2.pth'

    def more_classes(state_dict):  # a 4-class head on the 3-class model
        state_dict['head.fc.weight'] = torch.zeros(4, 120)
        state_dict['head.fc.bias'] = torch.zeros(4)

    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.test_dataloader.dataset.data_root = str(data_root)
    checkpoint = mismatched_checkpoint(source, tmp_path / 'more_classes.pth',
                                       more_classes)
    with pytest.raises(
            ValueError,
            match=r'(?s)more_classes.pth does not fit the model of .*'
            r'size mismatch for head.fc.weight'):
        load_runner(cfg, checkpoint, 'strict')
    assert load_runner(cfg, str(source), 'loads') is not None


def test_show_dir_saves_every_test_image(tmp_path, two_epoch_run, data_root,
                                         monkeypatch):
    # MMPretrain's --show-dir visualises every --interval-th sample
    # (default 1); the VisualizationHook default alone saves one in 5000.
    test_tool = load_tool('test')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(sys, 'argv', [
        'test.py', CONFIG,
        str(two_epoch_run[0] / 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'work'), '--show-dir',
        str(tmp_path / 'vis'), '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ])
    test_tool.main()
    # Files are named after the image (class folders reuse 0.png .. 4.png),
    # so the 15 test images leave 5 files; one in 5000 would leave one.
    saved = sorted(path.name for path in (tmp_path / 'vis').glob('*.png'))
    assert saved == [f'{i}.png_0.png' for i in range(VAL_IMAGES_PER_CLASS)]


def long_tail_wrapped(dataset):
    return dict(
        type='LongTailDataset',
        imbalance_factor=1,
        n_max=VAL_IMAGES_PER_CLASS,
        subsample=False,
        dataset=dataset)


def test_tta_pipeline_goes_to_the_wrapped_dataset(monkeypatch):
    cfg = Config.fromfile(CONFIG)
    inner = cfg.test_dataloader.dataset.to_dict()
    cfg.test_dataloader.dataset = long_tail_wrapped(inner)
    cfg = merged_test_config(monkeypatch, cfg, 'ckpt.pth', '--tta')
    wrapper = cfg.test_dataloader.dataset
    assert 'pipeline' not in wrapper
    assert wrapper.dataset.pipeline[0] == inner['pipeline'][0]
    flip = wrapper.dataset.pipeline[-1]
    assert flip.type == 'TestTimeAug'
    assert flip.transforms[-1] == [inner['pipeline'][-1]]
    assert cfg.model.type == 'AverageClsLogitsTTA'
    # The validation loader is left alone.
    assert cfg.val_dataloader.dataset.pipeline == inner['pipeline']


def test_tta_averages_the_logits_the_evaluator_reads(tmp_path, data_root,
                                                    two_epoch_run,
                                                    monkeypatch):
    """--tta under RebalancedAccuracy, which scores `pred_logits` (the
    dumped ones are those it gets): they are the mean of the image's and
    its flip's (MMPretrain's AverageClsScoreTTA kept view 0's)."""
    test_tool = load_tool('test')
    monkeypatch.setenv('LOCAL_RANK', '0')
    checkpoint = str(two_epoch_run[0] / 'epoch_2.pth')
    logits_config = tmp_path / 'logits.py'
    logits_config.write_text(f'''_base_ = [{CONFIG!r}]
model = dict(head=dict(type='LogitsLinearClsHead'))
test_evaluator = dict(type='RebalancedAccuracy')
''')
    flipped_config = tmp_path / 'flipped.py'
    flipped_config.write_text(f'''_base_ = [{str(logits_config)!r}]
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='RandomFlip', prob=1.0),
    dict(type='PackInputs')]))
''')

    def run_test(config, name, *extra):
        out = tmp_path / f'{name}.pkl'
        monkeypatch.setattr(sys, 'argv', [
            'test.py', config, checkpoint, '--work-dir',
            str(tmp_path / name), '--out',
            str(out), *extra, '--cfg-options',
            f'test_dataloader.dataset.data_root={data_root}',
            f'experiment_name=tta_logits_{name}'
        ])
        test_tool.main()
        samples = mmengine.load(out)
        # each sample's rows own their memory (SampleCopyDumpResults), not
        # the storage of their whole test batch
        row_bytes = 4 * len(TRAIN_CLASS_SIZES)
        assert all(
            sample[key].untyped_storage().nbytes() == row_bytes
            for sample in samples for key in ('pred_score', 'pred_logits'))
        return torch.stack([sample['pred_logits'] for sample in samples])

    tta = run_test(str(logits_config), 'tta', '--tta')
    plain = run_test(str(logits_config), 'plain')
    flipped = run_test(str(flipped_config), 'flipped')
    assert not torch.allclose(plain, flipped)
    torch.testing.assert_close(tta, (plain + flipped) / 2)


@pytest.mark.parametrize('dataset,path', [
    (dict(type='ConcatDataset', datasets=[]), r'test_dataloader\.dataset '),
    (long_tail_wrapped(dict(type='CustomDataset')),
     r'test_dataloader\.dataset\.dataset \(type=.CustomDataset.\)'),
])
def test_tta_without_a_pipeline_is_refused(monkeypatch, dataset, path):
    cfg = Config.fromfile(CONFIG)
    cfg.test_dataloader.dataset = dataset
    with pytest.raises(ValueError, match=f'--tta needs the test pipeline, '
                       f'but {path}'):
        merged_test_config(monkeypatch, cfg, 'ckpt.pth', '--tta')


def test_tta_on_long_tail_wrapper_matches_unwrapped(tmp_path, data_root,
                                                    two_epoch_run,
                                                    monkeypatch):
    test_tool = load_tool('test')
    monkeypatch.setenv('LOCAL_RANK', '0')
    checkpoint = str(two_epoch_run[0] / 'epoch_2.pth')
    wrapped_config = tmp_path / 'wrapped.py'
    inner = dict(
        type='CustomDataset',
        data_prefix='val',
        pipeline=Config.fromfile(CONFIG).pipeline)
    wrapped_config.write_text(f'''_base_ = [{CONFIG!r}]
test_dataloader = dict(dataset=dict(_delete_=True, **{long_tail_wrapped(inner)!r}))
''')  # noqa: E501

    def predictions(config, name, image_dataset, *extra):
        out = tmp_path / f'{name}.pkl'
        monkeypatch.setattr(sys, 'argv', [
            'test.py', config, checkpoint, '--work-dir',
            str(tmp_path / name), '--out',
            str(out), *extra, '--cfg-options',
            f'{image_dataset}.data_root={data_root}',
            f'experiment_name=tta_{name}'
        ])
        test_tool.main()
        return [sample['pred_score'] for sample in mmengine.load(out)]

    wrapped = predictions(
        str(wrapped_config), 'wrapped',
        'test_dataloader.dataset.dataset', '--tta')
    unwrapped = predictions(CONFIG, 'unwrapped', 'test_dataloader.dataset',
                            '--tta')
    plain = predictions(CONFIG, 'plain', 'test_dataloader.dataset')
    assert len(wrapped) == len(unwrapped) == 3 * VAL_IMAGES_PER_CLASS
    assert all(torch.equal(a, b) for a, b in zip(wrapped, unwrapped))
    assert not all(torch.allclose(a, b) for a, b in zip(wrapped, plain))
