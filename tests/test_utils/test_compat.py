import functools
import http.server
import math
import os
import re
import threading

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.dist import utils as dist_utils
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.runner import Runner
from mmengine.runner import checkpoint as ckpt
from mmengine.runner.checkpoint import _load_checkpoint
from torch.distributed.elastic.utils.distributed import get_free_port
from torch.utils.data import Dataset

from mmlt.utils import compat
from mmlt.utils.compat import TRUST_ENV_VAR, UntrustedCheckpointError

class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)

    def forward(self, inputs, targets, mode='tensor'):
        loss = ((self.fc(torch.stack(inputs)) - torch.stack(targets))**2)
        return dict(loss=loss.mean())


class ToyDataset(Dataset):
    metainfo = dict(classes=('a', 'b'), train_class_counts=(3, 1))

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return dict(
            inputs=torch.full((2, ), float(index)), targets=torch.zeros(2))


class CustomObject:
    """A class outside the allowlist."""

    def __init__(self, value):
        self.value = value


class GetattrExploit:
    """Pickles as ``getattr(HistoryBuffer, '__init__')``."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class OtherOneCycleAttribute:
    """Pickles as ``getattr(OneCycleParamScheduler, 'step')``."""

    def __reduce__(self):
        return getattr, (OneCycleParamScheduler, 'step')


class OneCycleConstruction:
    """Pickles as a call of ``OneCycleParamScheduler``."""

    def __reduce__(self):
        return OneCycleParamScheduler, (None, 'lr')


def train_toy_runner(work_dir, param_scheduler, **kwargs):
    """Train a toy model for one epoch (2 iterations) with mmengine's Runner,
    which saves ``epoch_1.pth``; return the runner."""
    runner = Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=param_scheduler,
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook')),
        randomness=dict(seed=0),
        **kwargs)
    runner.train()
    return runner


def save_mmengine_checkpoint(work_dir):
    """Train a toy model for one epoch with mmengine's Runner and save a
    checkpoint holding message-hub history buffers and numpy metadata."""
    runner = train_toy_runner(
        work_dir, dict(type='MultiStepLR', milestones=[1]))
    meta = dict(
        counts=np.array([3, 1], dtype=np.int64),
        probs=np.array([[0.5, 0.25]], dtype=np.float32),
        names=np.array(['a', 'b']),
        score=np.float64(0.75),
        flag=np.bool_(True))
    runner.save_checkpoint(str(work_dir), 'extra_meta.pth', meta=meta)
    return runner, work_dir / 'extra_meta.pth'


def test_mmengine_checkpoint_round_trips(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    runner, path = save_mmengine_checkpoint(tmp_path)
    checkpoint = _load_checkpoint(
        str(tmp_path / 'epoch_1.pth'), map_location='cpu')

    for name, value in runner.model.state_dict().items():
        assert torch.equal(checkpoint['state_dict'][name], value)
    optimizer = runner.optim_wrapper.state_dict()
    assert checkpoint['optimizer']['param_groups'] == \
        optimizer['param_groups']
    for key, state in optimizer['state'].items():
        assert torch.equal(
            checkpoint['optimizer']['state'][key]['momentum_buffer'],
            state['momentum_buffer'])
    loss_buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss_buffer, HistoryBuffer)
    expected = runner.message_hub.get_scalar('train/loss')
    np.testing.assert_array_equal(loss_buffer.data[0], expected.data[0])
    assert loss_buffer.statistics('mean') == expected.mean()
    assert checkpoint['meta']['dataset_meta']['train_class_counts'] == (3, 1)

    meta = _load_checkpoint(str(path), map_location='cpu')['meta']
    assert meta['counts'].dtype == np.int64
    np.testing.assert_array_equal(meta['counts'], [3, 1])
    np.testing.assert_array_equal(meta['probs'], [[0.5, 0.25]])
    np.testing.assert_array_equal(meta['names'], ['a', 'b'])
    assert meta['score'] == np.float64(0.75) and bool(meta['flag'])

    # mmengine's resume path reads the same files.
    runner.resume(str(tmp_path / 'epoch_1.pth'))
    assert (runner.epoch, runner.iter) == (1, 2)


@pytest.mark.parametrize('strategy', ['cos', 'linear'])
def test_one_cycle_lr_checkpoint_round_trips(tmp_path, monkeypatch, strategy):
    # OneCycleLR keeps its annealing function in the scheduler state.
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    runner = train_toy_runner(
        tmp_path,
        dict(
            type='OneCycleLR',
            eta_max=0.1,
            total_steps=4,
            by_epoch=False,
            anneal_strategy=strategy),
        experiment_name=f'one_cycle_{strategy}')
    path = str(tmp_path / 'epoch_1.pth')
    anneal_func = getattr(OneCycleParamScheduler, f'_annealing_{strategy}')
    expected = runner.param_schedulers[0].state_dict()
    assert expected['anneal_func'] is anneal_func

    state = _load_checkpoint(path, map_location='cpu')['param_schedulers'][0]
    assert state['anneal_func'] is anneal_func
    assert state == expected

    runner.param_schedulers[0].anneal_func = None
    runner.resume(path)
    assert runner.param_schedulers[0].anneal_func is anneal_func
    assert runner.param_schedulers[0].state_dict() == expected


@pytest.mark.parametrize('obj,name', [
    (OtherOneCycleAttribute(), 'builtins.getattr'),
    (OneCycleConstruction(), 'OneCycleParamScheduler'),
    # torch's OneCycleLR has an annealing function of the same name.
    (torch.optim.lr_scheduler.OneCycleLR._annealing_cos,
     'torch.optim.lr_scheduler.OneCycleLR'),
    (math.cos, 'math.cos'),
])
def test_functions_beyond_one_cycle_annealing_are_refused(
        tmp_path, monkeypatch, obj, name):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = tmp_path / 'function.pth'
    torch.save(dict(param_schedulers=[dict(anneal_func=obj)]), path)
    with pytest.raises(UntrustedCheckpointError, match=name):
        _load_checkpoint(str(path), map_location='cpu')


def test_custom_object_is_refused_and_opt_in_loads(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = tmp_path / 'custom.pth'
    torch.save(
        dict(state_dict=dict(w=torch.ones(2)), meta=dict(obj=CustomObject(3))),
        path)

    with pytest.raises(UntrustedCheckpointError) as info:
        _load_checkpoint(str(path), map_location='cpu')
    message = str(info.value)
    assert f'{CustomObject.__module__}.CustomObject' in message
    assert f'{TRUST_ENV_VAR}=1' in message
    assert str(path) in message

    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    checkpoint = _load_checkpoint(str(path), map_location='cpu')
    assert isinstance(checkpoint['meta']['obj'], CustomObject)
    assert checkpoint['meta']['obj'].value == 3


def test_getattr_beyond_history_buffer_methods_is_refused(
        tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=GetattrExploit()), path)
    with pytest.raises(UntrustedCheckpointError, match='builtins.getattr'):
        _load_checkpoint(str(path), map_location='cpu')


def test_object_arrays_are_refused(tmp_path, monkeypatch):
    # Object dtypes can carry arbitrary Python objects: not in the allowlist,
    # even when the objects themselves would be allowed.
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    path = tmp_path / 'object_array.pth'
    torch.save(dict(meta=np.array([1, 'a'], dtype=object)), path)
    with pytest.raises(UntrustedCheckpointError, match='ObjectDType'):
        _load_checkpoint(str(path), map_location='cpu')


def test_trust_env_var_values(monkeypatch):
    for value, expected in [('1', True), ('true', True), ('0', False),
                            ('', False)]:
        monkeypatch.setenv(TRUST_ENV_VAR, value)
        assert compat.checkpoints_trusted() is expected
    monkeypatch.delenv(TRUST_ENV_VAR)
    assert compat.checkpoints_trusted() is False
    monkeypatch.setenv(TRUST_ENV_VAR, 'maybe')
    with pytest.raises(ValueError, match="'maybe'"):
        compat.checkpoints_trusted()


def test_torch_without_the_weights_only_default_is_refused():
    with pytest.raises(
            ImportError,
            match=r'mmlt needs torch>=2\.6\.0 .* but torch 2\.5\.1 is '
            'installed'):
        compat.check_torch_version('2.5.1')
    compat.check_torch_version('2.6.0')
    compat.check_torch_version(torch.__version__)


def write_checkpoint_variants(tmp_path):
    """An empty file, a text file, and the two torch.save formats of a
    checkpoint cut in half (zip archive and legacy pickle)."""
    checkpoint = dict(state_dict=dict(weight=torch.arange(2000.)))
    paths = dict(
        empty=tmp_path / 'empty.pth',
        text=tmp_path / 'text.pth',
        zip=tmp_path / 'zip.pth',
        pickle=tmp_path / 'pickle.pth')
    paths['empty'].write_bytes(b'')
    paths['text'].write_text('epoch_10.pth\n')
    torch.save(checkpoint, paths['zip'])
    torch.save(
        checkpoint, paths['pickle'], _use_new_zipfile_serialization=False)
    for key in ('zip', 'pickle'):
        data = paths[key].read_bytes()
        paths[key].write_bytes(data[:len(data) // 2])
    return {key: str(path) for key, path in paths.items()}


@pytest.mark.parametrize('trusted', [False, True])
def test_empty_text_and_truncated_files_are_named(tmp_path, monkeypatch,
                                                  trusted):
    monkeypatch.setenv(TRUST_ENV_VAR, '1' if trusted else '0')
    paths = write_checkpoint_variants(tmp_path)
    expected = {
        'empty': r'Checkpoint {} is empty \(0 bytes\), not a checkpoint',
        'text': r"{} is not a PyTorch checkpoint: it starts with b'epoc'",
        'zip': r'Checkpoint {} is truncated or corrupted',
        'pickle': r'Checkpoint {} is truncated or corrupted',
    }
    for key, path in paths.items():
        with pytest.raises(compat.CorruptCheckpointError) as info:
            _load_checkpoint(path, map_location='cpu')
        assert re.match(expected[key].format(re.escape(path)),
                        str(info.value)), str(info.value)
        assert TRUST_ENV_VAR not in str(info.value)


def test_http_scheme_uses_the_same_policy(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    _, good = save_mmengine_checkpoint(tmp_path)
    torch.save(dict(obj=CustomObject(1)), tmp_path / 'custom.pth')

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{server.server_address[1]}'
    # the model-zoo names that resolve to URLs
    monkeypatch.setattr(
        ckpt, 'get_torchvision_models',
        lambda: dict(good=f'{url}/{good.name}', custom=f'{url}/custom.pth'))
    monkeypatch.setattr(
        ckpt, 'get_external_models',
        lambda: dict(good=f'{url}/{good.name}', custom=f'{url}/custom.pth'))
    try:
        for prefix in ('', 'torchvision://', 'open-mmlab://'):
            good_name = f'{url}/{good.name}' if not prefix else 'good'
            checkpoint = _load_checkpoint(prefix + good_name)
            assert isinstance(
                checkpoint['message_hub']['log_scalars']['train/loss'],
                HistoryBuffer)
            custom = f'{url}/custom.pth' if not prefix else 'custom'
            with pytest.raises(UntrustedCheckpointError, match='CustomObject'):
                _load_checkpoint(prefix + custom)
    finally:
        server.shutdown()
        server.server_close()


def test_object_store_scheme_uses_the_same_policy(tmp_path, monkeypatch):
    """``s3://`` / ``petrel://`` files, read through mmengine's file
    backend (faked here), are unpickled under the same allowlist."""
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    _, good = save_mmengine_checkpoint(tmp_path)
    torch.save(dict(obj=CustomObject(1)), tmp_path / 'custom.pth')

    class Backend:

        def get(self, filename):
            return (tmp_path / filename.rsplit('/', 1)[1]).read_bytes()

    monkeypatch.setattr(ckpt, 'get_file_backend', lambda *a, **k: Backend())
    checkpoint = _load_checkpoint(f's3://bucket/{good.name}')
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
    with pytest.raises(UntrustedCheckpointError, match='CustomObject'):
        _load_checkpoint('s3://bucket/custom.pth')
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    assert _load_checkpoint('s3://bucket/custom.pth')['obj'].value == 1


def test_torch_full_pickle_variable_does_not_bypass_the_allowlist(
        tmp_path, monkeypatch):
    """mmengine's loaders leave ``weights_only`` unset, so torch's own
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD would switch them to full pickle: mmlt
    overrides it around each load and restores it afterwards."""
    monkeypatch.delenv(TRUST_ENV_VAR, raising=False)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    path = tmp_path / 'custom.pth'
    torch.save(dict(obj=CustomObject(2)), path)
    with pytest.raises(UntrustedCheckpointError, match='CustomObject'):
        _load_checkpoint(str(path), map_location='cpu')
    assert os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] == '1'
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    monkeypatch.setenv(TRUST_ENV_VAR, '1')
    assert _load_checkpoint(str(path))['obj'].value == 2
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


def _all_reduce_worker(rank, world_size, port, results):
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(port))
    import mmlt  # noqa: F401  (the patch under test)
    from mmengine.dist import init_dist
    torch.set_num_threads(1)
    init_dist('pytorch', backend='gloo')
    value = torch.tensor([float(rank + 1)])
    torch_dist.all_reduce(value)
    results[rank] = value.item()
    torch_dist.destroy_process_group()


@pytest.mark.skipif(torch.cuda.is_available(), reason='tests the CPU path')
def test_init_dist_pytorch_on_cpu_with_gloo():
    world_size = 2
    results = mp.Manager().dict()
    mp.spawn(
        _all_reduce_worker,
        args=(world_size, get_free_port(), results),
        nprocs=world_size,
        join=True)
    assert dict(results) == {0: 3.0, 1: 3.0}


@pytest.mark.parametrize('cuda_available', [False, True])
def test_set_device_skipped_only_without_cuda(monkeypatch, cuda_available):
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda_available)
    monkeypatch.setattr(torch.cuda, 'set_device', calls.append)
    monkeypatch.setattr(torch_dist, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs['backend']))
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('LOCAL_RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')

    dist_utils._init_dist_pytorch('gloo')

    assert calls == ([1, 'gloo'] if cuda_available else ['gloo'])
    assert torch.cuda.set_device == calls.append  # restored after the call


class _ListDataset(BaseDataset):
    """Four samples with an in-memory annotation list."""

    def load_data_list(self):
        return [dict(img=i, gt_label=i % 2) for i in range(4)]


def test_subsets_do_not_share_a_deepcopy_memo():
    """Two subsets of one dataset each own a copy of its pipeline, and a
    subset taken after a freed one gets no stale copy: mmengine's shared
    default memo made the second subset reuse the first one's pipeline."""
    dataset = _ListDataset(pipeline=[], serialize_data=False)
    first, second = dataset.get_subset([0, 1]), dataset.get_subset([2, 3])
    assert first.pipeline is not second.pipeline
    assert first.pipeline is not dataset.pipeline
    assert [first[i]['img'] for i in range(2)] == [0, 1]
    assert [second[i]['img'] for i in range(2)] == [2, 3]
    # a memo passed explicitly is still used
    memo = {}
    copied = dataset._copy_without_annotation(memo)
    assert memo[id(dataset)] is copied
