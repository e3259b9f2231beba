"""The benchmarks' timing harness against a fake clock: rotation order,
per-call samples on both clocks, medians of paired ratios, calibration;
the memory probes on this process and a child."""
import math
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from mmlt.experiments import timing


@pytest.fixture
def clock(monkeypatch):
    """A clock that only the timed functions advance."""
    now = SimpleNamespace(wall=0.0, cpu=0.0)
    monkeypatch.setattr(
        timing, 'time',
        SimpleNamespace(perf_counter=lambda: now.wall,
                        process_time=lambda: now.cpu))
    return now


def work(clock, calls, name, wall, cpu):
    def run():
        calls.append(name)
        clock.wall += wall
        clock.cpu += cpu
    return run


def test_time_interleaved_rotates_and_divides_by_inner(clock):
    calls = []
    variants = dict(a=work(clock, calls, 'a', 2.0, 1.0),
                    b=work(clock, calls, 'b', 6.0, 3.0),
                    c=work(clock, calls, 'c', 1.0, 0.5))
    samples = timing.time_interleaved(variants, 3, inner=2, warmup=1)
    # warm-up once each, then blocks of 2 calls in rotated order
    assert calls == list('abc') + list('aabbcc' 'bbccaa' 'ccaabb')
    assert samples == dict(a=dict(wall=[2.0] * 3, cpu=[1.0] * 3),
                           b=dict(wall=[6.0] * 3, cpu=[3.0] * 3),
                           c=dict(wall=[1.0] * 3, cpu=[0.5] * 3))


def test_summarise_takes_medians_of_paired_ratios():
    samples = dict(
        ce=dict(cpu=[1.0, 2.0, 4.0, 1.0], wall=[2.0, 2.0, 2.0, 4.0]),
        gala=dict(cpu=[1.5, 2.0, 6.0, 3.0], wall=[3.0, 1.0, 8.0, 2.0]))
    out = timing.summarise(samples, 'ce', 'cpu')
    gala = out['gala']
    # cpu ratios 1.5, 1.0, 1.5, 3.0 -> median (1.5 + 1.5) / 2
    assert gala['ratio'] == 1.5
    assert (gala['ratio_min'], gala['ratio_max']) == (1.0, 3.0)
    # median of 1.5, 2, 6, 3 s = 2.5 s
    assert gala['median_ms'] == pytest.approx(2500.0)
    assert gala['wall_median_ms'] == pytest.approx(2500.0)
    # wall ratios 1.5, 0.5, 4.0, 0.5 -> median (0.5 + 1.5) / 2
    assert gala['wall_ratio'] == 1.0
    assert gala['repeats'] == 4 and gala['clock'] == 'cpu'
    assert out['ce']['ratio'] == 1.0
    # a zero baseline sample gives a nan ratio, not a division error
    one = timing.summarise(dict(ce=dict(cpu=[0.0], wall=[1.0])), 'ce', 'cpu')
    assert math.isnan(one['ce']['ratio']) and one['ce']['wall_ratio'] == 1


def test_calibrate_inner(clock):
    calls = []
    fn = work(clock, calls, 'f', 0.004, 0.0)
    assert timing.calibrate_inner(fn, 'cpu', 0.01) == 3  # ceil(2.5)
    assert len(calls) == 8  # 3 untimed + 5 timed
    assert timing.calibrate_inner(fn, 'cpu', 0.001) == 1
    free = work(clock, calls, 'free', 0.0, 0.0)  # 1e-7 s per call floor
    assert timing.calibrate_inner(free, 'cpu', 1e-3) == 10000


def test_timed(clock):
    fn = work(clock, [], 'f', 0.25, 0.125)
    assert timing.timed(lambda: fn() or 'out') == ('out', 0.125, 0.25)


def test_primary_clock():
    assert timing.primary_clock('cpu') == 'cpu'
    assert timing.primary_clock('cuda') == 'wall'


def test_proc_status_kib(tmp_path):
    status = tmp_path / 'status'
    status.write_text('Name:\tpython\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n')
    assert timing.proc_status_kib('VmRSS', str(status)) == 1024
    assert timing.proc_status_kib('VmHWM', str(status)) == 2048
    with pytest.raises(RuntimeError, match='VmSwap not in'):
        timing.proc_status_kib('VmSwap', str(status))


@pytest.mark.skipif(not osp.exists('/proc/self/clear_refs'),
                    reason='needs Linux /proc')
def test_cpu_peak_memory_sees_a_freed_64_mib_tensor():
    # In a fresh process: after other tests, this one's allocator may serve
    # the 64 MiB from memory it already holds resident, which RSS cannot see.
    probe = ('import torch\nfrom mmlt.experiments import timing\n'
             'print(timing.peak_memory_bytes(lambda: torch.ones('
             '16 * 2**20, dtype=torch.float32).sum(), "cpu"))')
    out = subprocess.run([sys.executable, '-c', probe],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    peak = int(out.stdout.split()[-1])
    assert 60 * 2**20 <= peak < 512 * 2**20


def test_run_child(tmp_path):
    out = timing.run_child(['-c', 'print("x" * 10)'], str(tmp_path))
    assert out['seconds'] > 0 and out['peak_rss_bytes'] > 2**20
    busy = ('import time\nstart = time.process_time()\n'
            'while time.process_time() - start < 0.3: pass')
    cpu = timing.run_child(['-c', busy], str(tmp_path))['cpu_seconds']
    assert 0.3 <= cpu < 0.3 + out['cpu_seconds'] + 1  # the loop + start-up
    with pytest.raises(RuntimeError, match='exit 3 here'):
        timing.run_child(
            ['-c', 'import sys; print("exit 3 here"); sys.exit(3)'],
            str(tmp_path))
