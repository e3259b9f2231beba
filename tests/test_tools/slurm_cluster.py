"""A single-node Slurm cluster for the tests, started and stopped by them.

Debian's ``munge``, ``slurmctld``, ``slurmd`` and ``slurm-client`` packages
(``.ci/run`` installs them): one munge daemon, one controller and one node
daemon, all state, sockets and logs under a temporary folder, ports free at
start, CPU only (no GRES). The daemons run as root, as Slurm needs to launch
jobs; without the packages or root the tests are skipped, unless
``MMLT_REQUIRE_SLURM=1`` (set by ``.ci/run``) makes that a failure.
"""
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
from torch.distributed.elastic.utils.distributed import get_free_port

PARTITION = 'mmlt'
REQUIRE_ENV_VAR = 'MMLT_REQUIRE_SLURM'
PROGRAMS = ('munged', 'mungekey', 'slurmctld', 'slurmd', 'srun', 'sinfo',
            'scontrol')
START_TIMEOUT = 60
# Debian puts the daemons in /usr/sbin, which a non-login PATH may lack
SEARCH_PATH = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin',
                               '/sbin'])


def missing_requirements():
    """Why no cluster can be started here (an empty string if it can)."""
    missing = [
        name for name in PROGRAMS
        if shutil.which(name, path=SEARCH_PATH) is None
    ]
    if missing:
        return (f'Slurm/munge programs not installed: {missing} (Debian: '
                'apt-get install munge slurmctld slurmd slurm-client)')
    if os.geteuid() != 0:
        return 'the Slurm daemons of the test cluster must run as root'
    return ''


def skip_or_fail_without_slurm():
    """Skip the calling test where no cluster can run, or fail if
    ``MMLT_REQUIRE_SLURM=1`` demands one."""
    reason = missing_requirements()
    if not reason:
        return
    if os.environ.get(REQUIRE_ENV_VAR) == '1':
        pytest.fail(f'{REQUIRE_ENV_VAR}=1 but {reason}')
    pytest.skip(reason)


def _check_call(args, env, what):
    result = subprocess.run(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=START_TIMEOUT)
    if result.returncode != 0:
        raise RuntimeError(f'{what} failed ({args}): {result.stdout}')
    return result.stdout


def _logs(root):
    text = []
    for name in ('munged.log', 'slurmctld.log', 'slurmd.log'):
        path = osp.join(root, name)
        if osp.exists(path):
            with open(path) as f:
                text.append(f'--- {name}\n{f.read()[-3000:]}')
    return '\n'.join(text)


def _write_slurm_conf(root, munge_socket, node, cpus):
    ctld_port = get_free_port()
    slurmd_port = get_free_port()
    while slurmd_port == ctld_port:
        slurmd_port = get_free_port()
    conf = f"""\
ClusterName=mmlt-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE \
State=UP OverSubscribe=YES
"""
    path = osp.join(root, 'slurm.conf')
    with open(path, 'w') as f:
        f.write(conf)
    return path


def _daemon_pids(root, names):
    pids = []
    for name in names:
        path = osp.join(root, f'{name}.pid')
        if osp.exists(path):
            with open(path) as f:
                pids.append(int(f.read().split()[0]))
    return pids


def _wait_for_exit(pids):
    """Wait until the daemons ``pids`` (started by this module) exited;
    terminate those still running after the timeout."""
    deadline = time.monotonic() + START_TIMEOUT
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@contextmanager
def single_node_cluster(root):
    """Start munge, slurmctld and slurmd under ``root``; stop them on exit.

    Args:
        root (str): An empty folder for keys, sockets, state and logs.

    Yields:
        dict: The environment for Slurm's clients (``SLURM_CONF``).
    """
    root = str(root)
    os.chmod(root, 0o700)
    for name in ('state', 'spool'):
        os.mkdir(osp.join(root, name))
    key = osp.join(root, 'munge.key')
    munge_socket = osp.join(root, 'munge.socket')
    env = dict(os.environ, PATH=SEARCH_PATH)
    _check_call(['mungekey', '--create', f'--keyfile={key}'], env,
                'mungekey')
    # --force: the socket's folder is private to root, which munged
    # only warns about; clients here run as root too.
    _check_call([
        'munged', '--force', f'--key-file={key}', f'--socket={munge_socket}',
        f'--pid-file={root}/munged.pid', f'--log-file={root}/munged.log',
        f'--seed-file={root}/munged.seed'
    ], env, 'munged')
    node = socket.gethostname().split('.')[0]
    env['SLURM_CONF'] = _write_slurm_conf(root, munge_socket, node,
                                          os.cpu_count())
    try:
        _check_call(['slurmctld', '-i'], env, 'slurmctld')
        _check_call(['slurmd'], env, 'slurmd')
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            state = _check_call(['sinfo', '-h', '-o', '%t'], env,
                                'sinfo').strip()
            if state == 'idle':
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f'node state {state!r} after '
                                   f'{START_TIMEOUT} s\n{_logs(root)}')
            time.sleep(0.5)
        yield env
    finally:
        slurm_pids = _daemon_pids(root, ('slurmctld', 'slurmd'))
        munge_pids = _daemon_pids(root, ('munged', ))
        subprocess.run(['scontrol', 'shutdown'],
                       env=env,
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL,
                       timeout=START_TIMEOUT)
        _wait_for_exit(slurm_pids)
        subprocess.run(['munged', '--stop', f'--socket={munge_socket}'],
                       env=env,
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL,
                       timeout=START_TIMEOUT)
        _wait_for_exit(munge_pids)
