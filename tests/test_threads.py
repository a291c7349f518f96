"""The thread choice: never more threads than free cores, one for small nets, --threads wins."""

from __future__ import annotations

import json

import pytest
import torch

from maskaae_cli import threads
from maskaae_cli.nets.conv import build_conv_nets
from maskaae_cli.nets.mlp import MLPDecoder, MLPEncoder


@pytest.mark.parametrize(("cores", "load", "expected"), [
    (2, 0.0, 2), (2, 1.0, 1), (2, 2.3, 1), (16, 3.2, 13), (16, 0.4, 16), (4, 9.0, 1), (1, 0.0, 1)])
def test_large_work_takes_the_free_cores(cores, load, expected):
    choice = threads.choose_threads(threads.INCEPTION_WORK, cores=cores, load=load)
    assert choice.threads == expected and f"{cores}" in choice.reason


def test_small_nets_take_one_thread_even_on_an_idle_machine():
    assert threads.choose_threads(1e5, cores=64, load=0.0).threads == 1


def test_simulated_affinity_and_load(monkeypatch, tmp_path):
    monkeypatch.setattr(threads, "PROC_STAT", tmp_path / "no-such-file")
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (2.6, 1.0, 1.0))
    assert threads.usable_cores() == 4 and threads.choose_threads(1e9).threads == 1
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.2, 1.0, 1.0))
    assert threads.choose_threads(1e9).threads == 4


def test_work_is_counted_from_the_nets():
    conv = threads.forward_work(*build_conv_nets((3, 32, 32), 128, 16), (3, 32, 32), 128)
    mlp = threads.forward_work(MLPEncoder((1, 28, 28), 32, 256, 3),
                               MLPDecoder((1, 28, 28), 32, 256, 3, sigmoid=True),
                               (1, 28, 28), 32)
    assert mlp < threads.SMALL_WORK < conv  # the MLP presets train on one thread, the conv ones on more
    assert 2e6 < conv < 4e6 and 5e5 < mlp < 1e6


def test_given_threads_win_and_are_set():
    before = torch.get_num_threads()
    try:
        choice = threads.use_threads(3, threads.INCEPTION_WORK)
        assert choice.threads == 3 and torch.get_num_threads() == 3 and choice.reason == "--threads"
    finally:
        torch.set_num_threads(before)


def test_a_run_records_its_choice(tmp_path, monkeypatch):
    from helpers import tiny_config

    from maskaae_cli.training import train

    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    cfg = tiny_config(tmp_path / "run")
    cfg.train.threads = None
    train(cfg)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["threads"] == 1 and "small nets" in record["why"]


def test_the_load_is_the_threads_runnable_now_not_the_lagging_average(monkeypatch, tmp_path):
    """The load average lags a minute both ways: the threads runnable now (here 3, this process's own
    and two others) keep the choice off the busy cores at once, and free cores count as soon as the
    neighbours have ended."""
    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3 4\nprocs_running 3\nprocs_blocked 0\n")
    monkeypatch.setattr(threads, "PROC_STAT", stat)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert threads.machine_load() == 2.0
    assert threads.choose_threads(1e9).threads == 2
    stat.write_text("procs_running 1\n")  # only this process, though the average still reads 3.5
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (3.5, 1.0, 1.0))
    assert threads.choose_threads(1e9).threads == 4
