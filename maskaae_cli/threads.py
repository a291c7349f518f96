"""How many CPU threads torch gets when ``--threads`` is not given.

torch's default (one thread per core) collapses beside any other busy process: every small operation
waits for a thread the scheduler has not run (a 300-iteration run took 302 s beside two busy
processes against 12 s on one thread). The choice here never takes more threads than there are free
cores (the cores this process may use, ``os.sched_getaffinity``, less the threads runnable right now,
so a neighbour that started a second ago counts and one that just ended does not), and takes one
thread for work too small to gain from more (the MLP presets). ``--threads N`` always wins.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# Forward multiply-adds per sample (encoder + decoder) below which one thread is as fast as several:
# the MLP presets (synthetic 3 x 128: ~0.1 M; mnist-cpu 3 x 256: ~0.7 M) are below, the conv presets
# (cifar10-cpu: ~2.6 M; Inception: ~5,700 M per image) above.
SMALL_WORK = 1.5e6
INCEPTION_WORK = 5.7e9  # the FID Inception network at 299x299
PROC_STAT = Path("/proc/stat")  # Linux: its procs_running line counts the threads runnable now


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count and, in words, why."""

    threads: int
    reason: str

    def line(self) -> str:
        return f"threads {self.threads}: {self.reason}"

    def record(self) -> dict[str, object]:
        return {"threads": self.threads, "why": self.reason}


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_load() -> float:
    """Busy cores besides this process: the threads runnable now where the system says (Linux), else
    the 1-minute load average (which lags a minute both ways: it misses a neighbour that just started
    and still counts one that just ended), else 0."""
    now = runnable_now()
    if now is not None:
        return now
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def runnable_now(samples: int = 7, gap: float = 0.02) -> float | None:
    """Other threads runnable now: the median of a few reads of /proc/stat's procs_running, less this
    process's own (None where there is no such file)."""
    counts = []
    for i in range(samples):
        try:
            line = next(x for x in PROC_STAT.read_text().splitlines() if x.startswith("procs_running "))
        except (OSError, StopIteration):
            return None
        counts.append(max(0, int(line.split()[1]) - 1))
        if i < samples - 1:
            time.sleep(gap)
    return float(statistics.median(counts))


def choose_threads(work: float, cores: int | None = None, load: float | None = None) -> ThreadChoice:
    """Threads for ``work`` (forward multiply-adds per sample) on ``cores`` with ``load`` busy."""
    if work < SMALL_WORK:  # before reading the load: sampling it takes a tenth of a second
        return ThreadChoice(1, f"small nets ({work / 1e6:.2g} M multiply-adds a sample), one thread is "
                               "fastest")
    cores = usable_cores() if cores is None else cores
    load = machine_load() if load is None else load
    free = max(1, min(cores, int(cores - load + 0.5)))
    where = f"{free} of {cores} cores free" if free < cores else f"{cores} cores free"
    return ThreadChoice(free, f"{where} (load {load:.1f})")


def forward_work(encoder: nn.Module, decoder: nn.Module, data_shape: tuple[int, ...], m: int) -> float:
    """Forward multiply-adds of one sample through ``encoder`` and ``decoder`` (counted, not timed)."""
    from torch.utils.flop_counter import FlopCounterMode

    encoder, decoder = (getattr(n, "_orig_mod", n) for n in (encoder, decoder))  # a compiled net's own
    modes = encoder.training, decoder.training
    encoder.eval()
    decoder.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            encoder(torch.zeros(1, *data_shape))
            decoder(torch.zeros(1, m))
    finally:
        encoder.train(modes[0])
        decoder.train(modes[1])
    return counter.get_total_flops() / 2.0


def use_threads(given: int | None, work: float, source: str = "--threads") -> ThreadChoice:
    """Set torch's thread count: ``given`` (from ``source``) when set, else :func:`choose_threads`."""
    choice = ThreadChoice(given, source) if given else choose_threads(work)
    torch.set_num_threads(choice.threads)
    return choice
