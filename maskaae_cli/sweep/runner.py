"""Run the sweep's jobs: each one a `maskaae train` (then `maskaae fid` for images) subprocess.

Where the jobs run is a :class:`Launcher`, injected into the sweep: :class:`LocalPool` (here) runs
them N at a time on worker slots, each slot owning a share of the CPU threads and, when GPUs are
visible, one GPU (slots take the GPUs round-robin); ``sweep/cluster.py`` submits them as a SLURM job
array.  The function that runs one job is injected too, so tests can replace the real trainer.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import maskaae_cli
from maskaae_cli.atomic_io import atomic_write_text
from maskaae_cli.sweep.plan import RunSpec
from maskaae_cli.sweep.results import FID_FILE, needs


@dataclass(frozen=True)
class Job:
    """One sweep run to (re)do: ``train`` (then measure) or only ``metric`` (trained already)."""

    spec: RunSpec
    run_dir: Path
    step: str
    retry: bool = False  # the folder holds an unfinished run: train with --overwrite


@dataclass(frozen=True)
class Slot:
    """A worker's share of the machine."""

    index: int
    threads: int | None
    gpu: str | None


@dataclass
class Outcome:
    ok: bool
    error: str = ""
    seconds: float = 0.0


JobFn = Callable[[Job, Slot], Outcome]
DoneFn = Callable[[Job, Outcome], None]


def plan_job(spec: RunSpec, run_dir: Path) -> Job | None:
    """What ``run_dir`` still needs: None (done), a measurement, or a training (with --overwrite when
    the folder holds an unfinished run)."""
    state = needs(run_dir)
    if state == "train":
        return Job(spec, run_dir, "train", run_dir.is_dir() and any(run_dir.iterdir()))
    return Job(spec, run_dir, "metric") if state == "metric" else None


class Launcher(Protocol):
    """Where the sweep's jobs run; ``on_done`` is called (in the caller's thread) as each finishes.

    A launcher may return before every job has finished (a cluster array left running); the
    sweep then records what has finished so far.
    """

    def describe(self) -> str: ...

    def launch(self, jobs: list[Job], on_done: DoneFn) -> None: ...


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPU ids a child may be given through CUDA_VISIBLE_DEVICES ([] without CUDA)."""
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return []
    listed = [g.strip() for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


def make_slots(jobs: int, threads: int | None, gpus: list[str]) -> list[Slot]:
    """``jobs`` slots; ``threads`` each (default: the CPU cores shared out), GPUs round-robin."""
    per_job = threads or max(1, cpu_count() // jobs)
    return [Slot(i, per_job, gpus[i % len(gpus)] if gpus else None) for i in range(jobs)]


def execute(jobs: list[Job], slots: list[Slot], run_one: JobFn,
            on_done: Callable[[Job, Outcome], None], on_interrupt: Callable[[], None] | None = None) -> None:
    """Run ``jobs`` on ``len(slots)`` workers; call ``on_done`` (in this thread) as each finishes."""
    free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
    for slot in slots:
        free.put(slot)

    def work(job: Job) -> Outcome:
        slot = free.get()
        start = time.perf_counter()
        try:
            outcome = run_one(job, slot)
        except Exception as exc:  # a bug in one job must not lose the others' results
            outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
        finally:
            free.put(slot)
        outcome.seconds = outcome.seconds or time.perf_counter() - start
        return outcome

    pool = ThreadPoolExecutor(max_workers=len(slots), thread_name_prefix="sweep")
    try:
        futures = {pool.submit(work, job): job for job in jobs}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        if on_interrupt is not None:
            on_interrupt()
        raise
    pool.shutdown(wait=True)


@dataclass
class LocalPool:
    """The default launcher: the jobs run on this machine, ``len(slots)`` at a time."""

    slots: list[Slot]
    run_one: JobFn
    on_interrupt: Callable[[], None] | None = None

    def describe(self) -> str:
        gpus = {s.gpu for s in self.slots if s.gpu is not None}
        where = f"{len(gpus)} GPU(s)" if gpus else f"{self.slots[0].threads} CPU thread(s) each"
        return f"{len(self.slots)} at a time, {where}"

    def launch(self, jobs: list[Job], on_done: DoneFn) -> None:
        execute(jobs, self.slots, self.run_one, on_done, self.on_interrupt)


class CollectOnly:
    """``--collect`` without a cluster: nothing runs; the results are written from the folders."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def describe(self) -> str:
        return "collecting only"

    def launch(self, jobs: list[Job], on_done: DoneFn) -> None:
        if jobs:
            self.say(f"{len(jobs)} run(s) not done: re-run without --collect to train them")


class SubprocessRunner:
    """Runs one job as real `maskaae train` / `maskaae fid` subprocesses, logging to LOG_DIR/NAME.log."""

    def __init__(self, train_args: list[str], fid_args: list[str], log_dir: Path) -> None:
        self.train_args = train_args
        self.fid_args = fid_args
        self.log_dir = log_dir
        self._live: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a cluster task (sweep/cluster.py): the options, not the live children."""
        return {"train_args": self.train_args, "fid_args": self.fid_args, "log_dir": self.log_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["train_args"], state["fid_args"], state["log_dir"])

    def train_command(self, job: Job, slot: Slot) -> list[str]:
        s = job.spec
        cmd = [sys.executable, "-m", "maskaae_cli", "train", *self.train_args, "--model", s.model,
               "--m", str(s.m), "--seed", str(s.seed), "--out", str(job.run_dir), "--no-progress"]
        if slot.threads:
            cmd += ["--threads", str(slot.threads)]
        return [*cmd, "--overwrite"] if job.retry else cmd

    def fid_command(self, job: Job) -> list[str]:
        return [sys.executable, "-m", "maskaae_cli", "fid", str(job.run_dir), "--json", "--seed",
                str(job.spec.seed), "--no-progress", *self.fid_args]

    def env(self, slot: Slot) -> dict[str, str]:
        """The parent's environment, this package first on the path, the slot's threads and GPU."""
        env = dict(os.environ)
        package_root = str(Path(maskaae_cli.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        if slot.threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(slot.threads)
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        return env

    def __call__(self, job: Job, slot: Slot) -> Outcome:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{job.spec.name}.log"
        env = self.env(slot)
        if job.step == "train":
            code, _, reason = self._run(self.train_command(job, slot), env, log)
            if code != 0:
                return Outcome(False, f"train: {reason} (log: {log})")
            if needs(job.run_dir) != "metric":  # vectors: summary.json holds the metric
                return Outcome(True)
        code, out, reason = self._run(self.fid_command(job), env, log)
        if code != 0:
            return Outcome(False, f"fid: {reason} (log: {log})")
        record = read_json_text(out)
        if record is None or "fid" not in record:
            return Outcome(False, f"fid: printed no JSON with a 'fid' value (log: {log})")
        atomic_write_text(job.run_dir / FID_FILE, out.strip() + "\n")
        return Outcome(True)

    def _run(self, cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, str, str]:
        """Run ``cmd``; append its command line and output to ``log``; (code, stdout, reason)."""
        with self._lock:
            if self._stopping:
                return 130, "", "interrupted"
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, stdin=subprocess.DEVNULL)
            self._live.add(proc)
        try:
            out, err = proc.communicate()
        finally:
            with self._lock:
                self._live.discard(proc)
        with log.open("a") as f:
            f.write(f"$ {' '.join(cmd)}\n{out}{err}[exit code {proc.returncode}]\n\n")
        return proc.returncode, out, failure_reason(proc.returncode, err) if proc.returncode else ""

    def stop(self) -> None:
        """Terminate the running children (on Ctrl-C); their folders are retried next time."""
        with self._lock:
            self._stopping = True
            live = list(self._live)
        for proc in live:
            proc.terminate()
        for proc in live:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def read_json_text(text: str) -> dict | None:
    """The JSON object printed by `maskaae fid --json`, or None."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def failure_reason(code: int, stderr: str) -> str:
    """One line: the child's 'error:' line, else the last line of its traceback, else the exit code."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    if code < 0:
        return f"killed by signal {-code}"
    return lines[-1] if lines else f"exit code {code}"

