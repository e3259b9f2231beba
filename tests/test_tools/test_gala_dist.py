"""GALA and prediction re-balancing through the tools: two-process
``tools/dist_train.sh`` / ``tools/dist_test.sh``, two-node and Slurm
(tests/test_tools/slurm_cluster.py) launches against single-process runs,
``--resume auto``, the column-mass and tau tools and single-image
inference. Tiny synthetic data and a BN-free MLP
(tests/data/gala/gala_test_modules.py), gradient accumulation over 2
iterations, CPU, gloo."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint
from torch.distributed.elastic.utils.distributed import get_free_port

import mmlt  # noqa: F401  (checkpoint loading policy)
from slurm_cluster import (PARTITION, single_node_cluster,
                           skip_or_fail_without_slurm)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data', 'gala')
CONFIG = osp.join(DATA_DIR, 'tiny_gala.py')
STATS = ('theta', 'negative_received')  # GALALoss's buffers
TIMEOUT = 180


def tool_env(base=None, **extra):
    """The environment of a tool run: ``base`` (default: this process's)
    with one thread, this interpreter, a free ``PORT`` and ``DATA_DIR`` on
    ``PYTHONPATH``, updated by ``extra``."""
    base = os.environ if base is None else base
    env = dict(
        base,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHON=sys.executable,
        PORT=str(get_free_port()),
        PYTHONPATH=os.pathsep.join([DATA_DIR,
                                    base.get('PYTHONPATH', '')]))
    env.pop('MMLT_TRUST_CHECKPOINTS', None)
    env.update(extra)
    return env


def run(args, env=None):
    result = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=tool_env() if env is None else env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def run_two_nodes(args):
    """``args`` as two processes, the two nodes of ``NNODES=2`` launched
    with ``MASTER_ADDR=127.0.0.1`` on this machine."""
    env = tool_env(NNODES='2', MASTER_ADDR='127.0.0.1')
    nodes = [
        subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=dict(env, NODE_RANK=str(rank)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True) for rank in range(2)
    ]
    try:
        logs = [node.communicate(timeout=TIMEOUT)[0] for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
    for rank, (node, log) in enumerate(zip(nodes, logs)):
        assert node.returncode == 0, f'node {rank}:\n{log[-4000:]}'
    return logs


def train(work_dir, *extra):
    return run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(work_dir), *extra
    ])


def evaluate(checkpoint, work_dir, nproc=1, *extra):
    if nproc == 1:
        args = [sys.executable, 'tools/test.py', CONFIG, str(checkpoint)]
    else:
        args = ['bash', 'tools/dist_test.sh', CONFIG, str(checkpoint), '2']
    run(args + ['--work-dir', str(work_dir), *extra])
    return read_test_metrics(work_dir, nproc)


def read_test_metrics(work_dir, nproc):
    metrics = []
    for rank in range(nproc):
        with open(osp.join(work_dir, f'test_metrics_rank{rank}.json')) as f:
            metrics.append(json.load(f))
    return metrics


def gala_stats(work_dir, rank=0):
    return torch.load(osp.join(work_dir, f'gala_stats_rank{rank}.pth'))[0]


def checkpoint_stats(path):
    state = _load_checkpoint(str(path), map_location='cpu')['state_dict']
    return {name: state[f'head.loss_module.{name}'] for name in STATS}


@pytest.fixture(scope='module')
def single_run(tmp_path_factory):
    """Single process, batch 4, 2 epochs of 12 iterations."""
    work_dir = tmp_path_factory.mktemp('gala_single')
    train(work_dir)
    return work_dir


def assert_two_process_stats_match(work_dir, single_run):
    """The statistics of a 2-process x batch 2 run in ``work_dir`` (the
    same global batches as the single run) equal the single run's."""
    ranks = [gala_stats(work_dir, rank) for rank in range(2)]
    single = gala_stats(single_run)
    in_checkpoint = checkpoint_stats(work_dir / 'epoch_2.pth')
    for name in STATS:
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.equal(ranks[0][name], in_checkpoint[name]), name
        assert ranks[0][name].dtype == torch.float64
        assert single[name].min() > 0
        # same samples, same model; only float32 rounding of the averaged
        # gradients differs
        torch.testing.assert_close(
            ranks[0][name], single[name], rtol=1e-5, atol=0)
    # summed over classes, the negative gradient received equals the one
    # produced (phi = theta): the same float32 probabilities, summed in
    # another order
    assert ranks[0]['negative_received'].sum().item() == pytest.approx(
        ranks[0]['theta'].sum().item(), rel=1e-6)


def assert_test_metrics_match(metrics, single_test_metrics):
    """Both ranks received the single-process test metrics."""
    assert metrics[0] == metrics[1]
    assert set(metrics[0]) == set(single_test_metrics)
    for key, value in single_test_metrics.items():
        assert metrics[0][key] == pytest.approx(value, abs=1e-9), key


def test_dist_train_statistics_match_single_process(single_run, tmp_path):
    run([
        'bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir',
        str(tmp_path), '--cfg-options', 'train_dataloader.batch_size=2'
    ])
    assert_two_process_stats_match(tmp_path, single_run)


def test_resume_auto_is_bit_identical(single_run, tmp_path):
    train(tmp_path, '--cfg-options', 'train_cfg.max_epochs=1')
    assert not (tmp_path / 'epoch_2.pth').exists()
    log = train(tmp_path, '--resume', 'auto')
    assert 'resumed epoch: 1' in log
    resumed = gala_stats(tmp_path)
    uninterrupted = gala_stats(single_run)
    resumed_ckpt = checkpoint_stats(tmp_path / 'epoch_2.pth')
    reference_ckpt = checkpoint_stats(single_run / 'epoch_2.pth')
    for name in STATS:
        assert torch.equal(resumed[name], uninterrupted[name]), name
        assert torch.equal(resumed_ckpt[name], reference_ckpt[name]), name


@pytest.fixture(scope='module')
def single_test_metrics(single_run, tmp_path_factory):
    """tools/test.py, one process: plain and transductive figures."""
    return evaluate(single_run / 'epoch_2.pth',
                    tmp_path_factory.mktemp('gala_single_test'))[0]


def test_dist_test_transductive_matches_single_process(single_run,
                                                       single_test_metrics,
                                                       tmp_path):
    dist = evaluate(single_run / 'epoch_2.pth', tmp_path, 2)
    assert_test_metrics_match(dist, single_test_metrics)
    rebalanced = [
        key for key in single_test_metrics
        if key.startswith('long-tail/rebalanced/')
    ]
    assert len(rebalanced) == len(single_test_metrics) // 2


def test_two_node_launch_matches_single_process(single_run,
                                                single_test_metrics,
                                                tmp_path):
    """``NNODES=2 NODE_RANK=0|1 tools/dist_train.sh CONFIG 1`` (then
    ``dist_test.sh``) as two processes: one process per node, global ranks
    from the node ranks."""
    train_dir = tmp_path / 'train'
    logs = run_two_nodes([
        'bash', 'tools/dist_train.sh', CONFIG, '1', '--work-dir',
        str(train_dir), '--cfg-options', 'train_dataloader.batch_size=2'
    ])
    assert 'GPU number: 2' in logs[0]
    assert_two_process_stats_match(train_dir, single_run)

    test_dir = tmp_path / 'test'
    run_two_nodes([
        'bash', 'tools/dist_test.sh', CONFIG,
        str(single_run / 'epoch_2.pth'), '1', '--work-dir',
        str(test_dir)
    ])
    assert_test_metrics_match(read_test_metrics(test_dir, 2),
                              single_test_metrics)


@pytest.fixture
def slurm_cluster(tmp_path_factory):
    """A single-node Slurm cluster, up for the one test that uses it."""
    skip_or_fail_without_slurm()
    with single_node_cluster(tmp_path_factory.mktemp('slurm')) as env:
        yield env


def test_slurm_launch_matches_single_process(single_run, single_test_metrics,
                                             slurm_cluster, tmp_path):
    """``tools/slurm_train.sh`` / ``slurm_test.sh`` with ``GPUS=2
    GPUS_PER_NODE=0`` on a real single-node Slurm cluster: two CPU tasks,
    no ``--gres``."""
    env = tool_env(
        slurm_cluster,
        GPUS='2',
        GPUS_PER_NODE='0',
        CPUS_PER_TASK='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(get_free_port()))
    train_dir = tmp_path / 'train'
    log = run([
        'bash', 'tools/slurm_train.sh', PARTITION, 'mmlt-gala', CONFIG,
        str(train_dir), '--cfg-options', 'train_dataloader.batch_size=2'
    ], env)
    assert '--gres' not in log and '--ntasks=2' in log
    assert_two_process_stats_match(train_dir, single_run)

    test_dir = tmp_path / 'test'
    run([
        'bash', 'tools/slurm_test.sh', PARTITION, 'mmlt-gala-test', CONFIG,
        str(single_run / 'epoch_2.pth'), '--work-dir',
        str(test_dir)
    ], env)
    assert_test_metrics_match(read_test_metrics(test_dir, 2),
                              single_test_metrics)


def test_stored_column_mass_matches_transductive(single_run,
                                                 single_test_metrics,
                                                 tmp_path):
    """Column masses estimated (2 processes) on the test split itself give
    the transductive predictions, also through mmpretrain.apis."""
    checkpoint = single_run / 'epoch_2.pth'
    stored_ckpt = tmp_path / 'stored.pth'
    run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={get_free_port()}',
        'tools/analysis/estimate_column_mass.py', CONFIG,
        str(checkpoint), '--split', 'test', '--out',
        str(stored_ckpt), '--work-dir',
        str(tmp_path / 'estimate'), '--launcher', 'pytorch'
    ])
    state = _load_checkpoint(str(stored_ckpt), map_location='cpu')
    assert int(state['state_dict']['head.column_mass_samples']) == 41
    stored = evaluate(stored_ckpt, tmp_path / 'stored', 1, '--cfg-options',
                      'test_evaluator.rebalance=None')[0]
    for key, value in single_test_metrics.items():
        assert stored[key] == pytest.approx(value, abs=1e-9), key

    # single-image inference with mmpretrain.apis is re-balanced
    sys.path.insert(0, DATA_DIR)
    try:
        import gala_test_modules  # noqa: F401  (registers the modules)
        from mmpretrain.apis import ImageClassificationInferencer
        from mmpretrain.registry import DATASETS
        inferencer = ImageClassificationInferencer(
            CONFIG, pretrained=str(stored_ckpt), device='cpu')
        image = DATASETS.build(
            dict(
                type='GALASyntheticDataset',
                class_sizes=(9, 8, 8, 8, 8),
                train_class_counts=(24, 12, 6, 4, 2),
                seed=2)).get_data_info(0)['img']
        result = inferencer(image, return_datasamples=True)[0]
    finally:
        sys.path.remove(DATA_DIR)
    head_state = state['state_dict']
    probs = torch.softmax(result.pred_logits.double(), dim=0)
    expected = probs / head_state['head.column_mass']
    expected = expected / expected.sum()
    np.testing.assert_allclose(
        result.pred_score.numpy(), expected.numpy(), rtol=1e-12)
    assert int(result.pred_label) == int(expected.argmax())


def test_select_tau_on_validation_split(single_run, tmp_path):
    out = tmp_path / 'tau.json'
    log = run([
        sys.executable, 'tools/analysis/select_tau.py', CONFIG,
        str(single_run / 'epoch_2.pth'), '--work-dir',
        str(tmp_path), '--taus', '1.5', '0', '1', '--out',
        str(out)
    ])
    assert 'Best tau by mean_class_acc' in log
    with open(out) as f:
        choice = json.load(f)
    taus = [row['tau'] for row in choice['table']]
    assert taus == [0.0, 1.0, 1.5]
    best = max(choice['table'], key=lambda row: row['mean_class_acc'])
    assert choice['best_tau'] == best['tau']

    # tau 1 on the validation split equals the validation evaluator's
    # transductive figures at the end of training
    val_log = open(
        next(
            osp.join(root, name) for root, _, names in os.walk(single_run)
            for name in names if name.endswith('.log'))).read()
    row = choice['table'][1]
    assert f"long-tail/rebalanced/mean_class_acc: " \
           f"{row['mean_class_acc']:.4f}" in val_log


@pytest.mark.parametrize('method, head_options', [
    ('PosthocLogitAdjustment',
     ['model.head.train_class_counts=[24,12,6,4,2]']),
    ('TauNormalization', []),
])
def test_select_tau_other_methods_match_the_head(single_run, tmp_path, method,
                                                 head_options):
    """select_tau's validation table for post-hoc logit adjustment and the
    tau-normalised classifier equals tools/test.py with the head
    re-balancing that way on the same split. The checkpoint carries no class
    counts, so the configured ones are kept."""
    checkpoint = single_run / 'epoch_2.pth'
    out = tmp_path / 'tau.json'
    run([
        sys.executable, 'tools/analysis/select_tau.py', CONFIG,
        str(checkpoint), '--work-dir',
        str(tmp_path / 'select'), '--method', method, '--taus', '0', '1.5',
        '--out',
        str(out)
    ])
    with open(out) as f:
        choice = json.load(f)
    assert choice['method'] == method
    metrics = evaluate(checkpoint, tmp_path / 'test', 1, '--cfg-options',
                       f'model.head.rebalance.type={method}',
                       'model.head.rebalance.tau=1.5', *head_options,
                       'test_evaluator.rebalance=None',
                       'test_dataloader.dataset.class_sizes=[5,5,5,5,5]',
                       'test_dataloader.dataset.seed=1')[0]
    for key in ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece'):
        assert metrics[f'long-tail/rebalanced/{key}'] == pytest.approx(
            choice['table'][1][key], abs=1e-9), key
    if method == 'PosthocLogitAdjustment':  # tau 0: plain predictions
        assert metrics['long-tail/top1'] == pytest.approx(
            choice['table'][0]['top1'], abs=1e-9)

