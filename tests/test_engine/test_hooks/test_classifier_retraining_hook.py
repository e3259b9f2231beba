from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import toy_long_tail_runner  # noqa: F401 (registers the toy dataset)
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import mmlt  # noqa: F401
from mmlt.engine.hooks import ClassifierRetrainingHook
from mmlt.engine.hooks.classifier_retraining_hook import reinitialize

MODEL = dict(
    type='FrozenFeatureClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor'),
    backbone=dict(type='ToyFlatBackbone'),
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=4,
        loss=dict(type='LORTLoss', eps=0.5)))


def build_stage2_runner(work_dir, load_from, hook=None, lr=0.0, **kwargs):
    return Runner(
        model=MODEL,
        work_dir=str(work_dir),
        experiment_name=f'retrain_{work_dir.parent.name}_{work_dir.name}',
        train_dataloader=dict(
            dataset=dict(type='ToyLongTailDataset'),
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        custom_hooks=[
            hook or dict(
                type='ClassifierRetrainingHook',
                stage1_config='configs/lort/stage1.py')
        ],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        load_from=load_from,
        default_scope='mmpretrain',
        log_level='WARNING',
        **kwargs)


@pytest.fixture
def stage1_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(dict(MODEL, type='ImageClassifier'))
    path = tmp_path / 'stage1.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model.state_dict()


def test_missing_load_from_is_an_error(tmp_path):
    runner = build_stage2_runner(tmp_path, load_from=None)
    with pytest.raises(FileNotFoundError) as error:
        runner.train()
    message = str(error.value)
    assert 'none was loaded: `load_from` is not set' in message
    assert 'python tools/train.py configs/lort/stage1.py' in message
    assert 'load_from=' in message


def test_nonexistent_checkpoint_is_an_error(tmp_path):
    missing = str(tmp_path / 'work_dirs' / 'epoch_200.pth')
    runner = build_stage2_runner(tmp_path, load_from=missing)
    with pytest.raises(FileNotFoundError, match='epoch_200.pth'):
        runner.train()


def test_auto_resume_without_checkpoint_is_an_error(tmp_path):
    runner = build_stage2_runner(tmp_path, load_from=None, resume=True)
    with pytest.raises(FileNotFoundError, match='no checkpoint to resume in '
                       f'{tmp_path}'):
        runner.train()


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    """A stage-1 checkpoint whose backbone is not this model's (keys
    missing, or other shapes) would leave the frozen backbone random."""
    torch.manual_seed(0)
    state = MODELS.build(dict(MODEL, type='ImageClassifier')).state_dict()
    other = {
        'backbone.conv.weight': torch.zeros(4, 4, 1, 1),
        'backbone.linear.weight': torch.zeros(4, 2),  # another shape
        'head.fc.weight': state['head.fc.weight'],
        'head.fc.bias': state['head.fc.bias'],
    }
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict=other, meta=dict()), path)
    runner = build_stage2_runner(tmp_path / 'run', load_from=str(path))
    with pytest.raises(
            ValueError,
            match='does not hold the frozen backbone.*Missing: 1 '
            '\\(backbone.linear.bias\\); other shape: 1 '
            '\\(backbone.linear.weight \\(checkpoint \\(4, 2\\), model '
            '\\(4, 4\\)\\)\\).*tools/train.py configs/lort/stage1.py'):
        runner.train()


def test_validation_and_test_runs_are_not_checked(tmp_path):
    """runner.val() / runner.test() of a stage-2 config without a
    checkpoint evaluate (a random model) instead of raising."""
    loader = dict(
        dataset=dict(type='ToyLongTailDataset'),
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False))
    runner = build_stage2_runner(
        tmp_path,
        load_from=None,
        val_dataloader=loader,
        val_cfg=dict(),
        val_evaluator=dict(type='Accuracy'),
        test_dataloader=loader,
        test_cfg=dict(),
        test_evaluator=dict(type='Accuracy'))
    assert 'accuracy/top1' in runner.val()
    assert 'accuracy/top1' in runner.test()


@pytest.mark.parametrize('reinit_head', [False, True])
def test_head_is_kept_or_reinitialised(tmp_path, stage1_checkpoint,
                                       reinit_head):
    path, stage1_state = stage1_checkpoint
    # lr 0: any change of the head comes from the re-initialisation.
    runner = build_stage2_runner(
        tmp_path / 'run',
        load_from=str(path),
        hook=dict(type='ClassifierRetrainingHook', reinit_head=reinit_head))
    runner.train()
    state = runner.model.state_dict()
    for key in ('backbone.linear.weight', 'backbone.linear.bias'):
        assert torch.equal(state[key], stage1_state[key])
    weight = state['head.fc.weight']
    assert torch.equal(weight, stage1_state['head.fc.weight']) != reinit_head


def test_resumed_run_is_not_reinitialised():
    model = MODELS.build(MODEL)
    before = model.head.fc.weight.clone()
    hook = ClassifierRetrainingHook(reinit_head=True)
    hook.after_load_checkpoint(None, dict(state_dict=model.state_dict()))
    hook.before_train(SimpleNamespace(model=model, iter=5, work_dir='.'))
    assert torch.equal(model.head.fc.weight, before)


def test_reinitialize_follows_init_cfg_and_torch_defaults():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(type='LinearClsHead', num_classes=500, in_channels=400))
    with torch.no_grad():
        head.fc.weight.fill_(1.0)
        head.fc.bias.fill_(1.0)
    parameter = head.fc.weight
    reinitialize(head)
    assert head.fc.weight is parameter  # optimizers keep their tensors
    # LinearClsHead's init_cfg: Normal(std=0.01), bias 0.
    assert head.fc.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert head.fc.weight.mean().abs().item() < 1e-3
    assert torch.count_nonzero(head.fc.bias) == 0
    # Without init_cfg: PyTorch's default U(-1/sqrt(in), 1/sqrt(in)).
    linear = torch.nn.Linear(400, 500)
    with torch.no_grad():
        linear.weight.fill_(1.0)
    reinitialize(linear)
    bound = 1 / 400**0.5
    assert linear.weight.abs().max().item() <= bound
    assert linear.weight.std().item() == pytest.approx(
        bound / 3**0.5, rel=0.02)


def _reinit_worker(rank, init_file, queue):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        torch.manual_seed(rank)  # different random streams on the ranks
        model = MODELS.build(MODEL)
        runner = SimpleNamespace(
            model=model,
            iter=0,
            work_dir='.',
            logger=SimpleNamespace(info=print))
        hook = ClassifierRetrainingHook(reinit_head=True)
        hook.after_load_checkpoint(runner,
                                   dict(state_dict=model.state_dict()))
        hook.before_train(runner)
        queue.put((rank, model.head.fc.weight.detach().numpy().copy()))
    finally:
        dist.destroy_process_group()


def test_distributed_reinit_gives_every_rank_the_same_head(tmp_path):
    ctx = mp.get_context('fork')
    queue = ctx.SimpleQueue()
    mp.start_processes(
        _reinit_worker,
        args=(str(tmp_path / 'init'), queue),
        nprocs=2,
        start_method='fork')
    weights = dict(queue.get() for _ in range(2))
    assert (weights[0] == weights[1]).all()
    torch.manual_seed(1)
    rank1_own = MODELS.build(MODEL).head
    reinitialize(rank1_own)
    assert not torch.equal(rank1_own.fc.weight, torch.from_numpy(weights[1]))
