"""`maskaae sweep-m`: the m parser, resume, retries, the results files, the figure and the CLI."""

from __future__ import annotations

import csv
import inspect
import io
import json
import threading
import time
from pathlib import Path

import pytest
from cli_support import run_cli
from helpers import PERIODS, tiny_recipe
from rich.console import Console

from maskaae_cli.cli import train as train_cli
from maskaae_cli.cli.sweep import run_command
from maskaae_cli.config import Config
from maskaae_cli.errors import UserError
from maskaae_cli.sweep.command import SweepOptions
from maskaae_cli.sweep.plan import RunSpec, grid, parse_int_range, parse_models
from maskaae_cli.sweep.results import FID_FILE, cost_summary, load_result
from maskaae_cli.sweep.runner import Job, Outcome, Slot, SubprocessRunner, failure_reason, make_slots

# --- the grid -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("4,8,16", [4, 8, 16]),
    ("2:32:2", list(range(2, 33, 2))),  # STOP included, like the paper's 2..32
    ("2:9:2", [2, 4, 6, 8]),  # STOP not reached by the steps: the values up to it
    ("3:5", [3, 4, 5]),
    ("2:8:2,12,16,24,32", [2, 4, 6, 8, 12, 16, 24, 32]),
    (" 16, 4,8 ,4", [4, 8, 16]),  # sorted, repeats dropped, spaces allowed
    ("7", [7]),
])
def test_m_parser(text, expected):
    assert parse_int_range(text, "--m", minimum=1) == expected


@pytest.mark.parametrize(("text", "needle"), [
    ("", "empty entry"),
    ("4,,8", "empty entry"),
    ("4,x", "'x' is not a whole number"),
    ("2.5", "not a whole number"),
    ("8:2:2", "STOP is below START; write 2:8:2"),
    ("2:8:0", "step must be at least 1"),
    ("2:8:-2", "step must be at least 1"),
    ("1:2:3:4", "too many ':' parts"),
    ("0,4", "contains 0: every value must be at least 1"),
])
def test_m_parser_errors(text, needle):
    with pytest.raises(UserError) as info:
        parse_int_range(text, "--m", minimum=1)
    assert needle in str(info.value) and "--m" in str(info.value)


def test_models_parser_and_grid():
    assert parse_models("wae, MAAE,wae") == ["wae", "maae"]
    with pytest.raises(UserError, match="unknown model 'vae'"):
        parse_models("maae,vae")
    runs = grid(["maae", "wae"], [2, 4], [0, 1])
    assert len(runs) == 8 and len(set(runs)) == 8
    assert [r.seed for r in runs[:4]] == [0, 0, 0, 0]  # seeds outermost: whole curves first
    assert RunSpec(1, 4, "wae").name == "wae-m4-s1"


# --- a fake trainer -----------------------------------------------------------------------------


def fake_value(spec: RunSpec) -> float:
    """A made-up metric: U-shaped in m for WAE, flat for MaskAAE."""
    return (abs(spec.m - 4) + 1.0 if spec.model == "wae" else 1.5) + spec.seed / 10


class FakeTrainer:
    """Stands in for the `maskaae train` subprocess: writes a summary.json like training does."""

    def __init__(self, fail: set[str] = frozenset(), image: bool = False, interrupt_after: int = 0,
                 results: Path | None = None):
        self.calls: list[Job] = []
        self.fail, self.image, self.interrupt_after = fail, image, interrupt_after
        self.results = results  # with interrupt_after: wait until results.csv shows those runs
        self.lock = threading.Lock()

    def interrupt(self) -> None:
        deadline = time.monotonic() + 10
        while self.results and time.monotonic() < deadline:
            done = [r["status"] for r in read_csv(self.results)] if self.results.is_file() else []
            if done.count("done") == self.interrupt_after:
                break
            time.sleep(0.01)
        raise KeyboardInterrupt

    def wall(self, spec: RunSpec) -> float:
        return 10.0 * spec.m + spec.seed + (0.5 if spec.model == "maae" else 0.0)

    def __call__(self, job: Job, slot: Slot) -> Outcome:
        with self.lock:
            self.calls.append(job)
            calls = len(self.calls)
        if self.interrupt_after and calls > self.interrupt_after:
            self.interrupt()
        spec = job.spec
        if job.step == "train":
            job.run_dir.mkdir(parents=True, exist_ok=True)
            (job.run_dir / "config.yaml").write_text("partial\n")
            if spec.name in self.fail and not self.image:
                return Outcome(False, "train: boom")
            summary = {"model": spec.model, "m": spec.m, "seed": spec.seed, "steps": 100 + spec.m,
                       "active_dims": min(spec.m, 3) if spec.model == "maae" else spec.m,
                       "wall_seconds": self.wall(spec)}
            if not self.image:
                summary["frechet_distance"] = fake_value(spec)
            (job.run_dir / "summary.json").write_text(json.dumps(summary))
        if self.image:
            if spec.name in self.fail:
                return Outcome(False, "fid: no Inception weights")
            (job.run_dir / FID_FILE).write_text(json.dumps({"fid": fake_value(spec)}))
        return Outcome(True, seconds=1.0)


def sweep(out: Path, trainer: FakeTrainer, capsys=None, **options) -> list:
    opts = SweepOptions(**{"m": "2,4,6", "models": "maae,wae", "seeds": "0,1", "out": out, "jobs": 2,
                           "threads": 1, "progress": False, **options})
    quiet = Console(file=io.StringIO())
    return run_command(opts, quiet, quiet, run_one=trainer)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_writes_results_figure_and_resumes(tmp_path):
    out = tmp_path / "sw"
    trainer = FakeTrainer()
    rows = sweep(out, trainer)
    assert len(trainer.calls) == 12 and all(job.step == "train" and not job.retry for job in trainer.calls)
    table = read_csv(out / "results.csv")
    assert len(table) == 12 and {r["status"] for r in table} == {"done"}
    for r in table:
        spec = RunSpec(int(r["seed"]), int(r["m"]), r["model"])
        assert float(r["value"]) == pytest.approx(fake_value(spec))
        assert r["metric"] == "frechet_distance" and r["run_dir"] == f"runs/{spec.name}"
        assert int(r["steps"]) == 100 + spec.m and float(r["wall_seconds"]) == trainer.wall(spec)
    result = json.loads((out / "results.json").read_text())
    assert result["counts"] == {"done": 12, "failed": 0, "pending": 0} and len(result["runs"]) == 12
    assert result["metric"] == "frechet_distance" and result["n_true"] == 8
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "sweep.svg").read_text()
    identity = json.loads((out / "sweep.json").read_text())["identity"]
    assert identity["config"]["train"]["max_steps"] == Config().train.max_steps  # the resolved config
    assert [r.status for r in rows] == ["done"] * 12

    again = FakeTrainer()
    sweep(out, again)
    assert again.calls == []  # every run finished: nothing trains
    assert read_csv(out / "results.csv") == table  # job_seconds included: carried over


def test_cost_summary_compares_wae_search_with_one_maae_run(tmp_path):
    out = tmp_path / "sw"
    trainer = FakeTrainer()
    sweep(out, trainer)
    cost = json.loads((out / "results.json").read_text())["cost"]
    seeds = (0, 1)
    wae_wall = sum(sum(trainer.wall(RunSpec(s, m, "wae")) for s in seeds) / 2 for m in (2, 4, 6))
    maae_wall = sum(trainer.wall(RunSpec(s, 6, "maae")) for s in seeds) / 2
    assert cost["wae_sweep_wall_seconds"] == pytest.approx(wae_wall)
    assert cost["maae_run_wall_seconds"] == pytest.approx(maae_wall) and cost["maae_m"] == 6
    assert cost["wall_ratio"] == pytest.approx(wae_wall / maae_wall, rel=1e-3)
    assert cost["wae_sweep_steps"] == 102 + 104 + 106
    assert cost["steps_ratio"] == pytest.approx(312 / 106, rel=1e-3)
    assert cost["wae_complete"] is True
    rows = [load_result(spec, out / "runs" / spec.name, spec.name) for spec in grid(["maae"], [6], [0])]
    assert cost_summary(rows, 6) is None  # no WAE run: nothing to compare


def test_failed_runs_are_retried_and_only_they(tmp_path):
    out = tmp_path / "sw"
    sweep(out, FakeTrainer(fail={"wae-m4-s1", "maae-m2-s0"}))
    table = {(r["model"], r["m"], r["seed"]): r for r in read_csv(out / "results.csv")}
    bad = table[("wae", "4", "1")]
    assert bad["status"] == "failed" and bad["error"] == "train: boom" and bad["value"] == ""
    assert sum(r["status"] == "done" for r in table.values()) == 10
    assert (out / "runs" / "wae-m4-s1" / "config.yaml").is_file()  # the unfinished folder is kept

    retry = FakeTrainer()
    sweep(out, retry)
    assert sorted(job.spec.name for job in retry.calls) == ["maae-m2-s0", "wae-m4-s1"]
    assert all(job.retry and job.step == "train" for job in retry.calls)  # --overwrite of that folder
    assert {r["status"] for r in read_csv(out / "results.csv")} == {"done"}


def test_image_runs_keep_training_when_fid_fails_and_retry_only_fid(tmp_path):
    out = tmp_path / "sw"
    sweep(out, FakeTrainer(image=True, fail={"maae-m4-s0"}), m="2,4", seeds="0")
    row = next(r for r in read_csv(out / "results.csv") if r["model"] == "maae" and r["m"] == "4")
    assert row["status"] == "failed" and row["error"] == "fid: no Inception weights"
    assert row["steps"] == "104" and row["active_dims"] == "3"  # the training result is kept
    retry = FakeTrainer(image=True)
    sweep(out, retry, m="2,4", seeds="0")
    assert [(job.spec.name, job.step) for job in retry.calls] == [("maae-m4-s0", "metric")]
    assert {r["metric"] for r in read_csv(out / "results.csv")} == {"fid"}


def test_interrupted_sweep_keeps_every_finished_run(tmp_path):
    out = tmp_path / "sw"
    with pytest.raises(KeyboardInterrupt):
        sweep(out, FakeTrainer(interrupt_after=3, results=out / "results.csv"), jobs=1)
    table = read_csv(out / "results.csv")
    assert [r["status"] for r in table].count("done") == 3  # written before the interruption
    assert [r["status"] for r in table].count("pending") == 9
    assert not (out / "sweep.lock").exists()
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"  # the figure of what finished
    rest = FakeTrainer()
    sweep(out, rest)
    assert len(rest.calls) == 9


def test_more_seeds_join_but_other_training_options_are_refused(tmp_path, capsys):
    out = tmp_path / "sw"
    sweep(out, FakeTrainer(), m="2", seeds="0", train_options={"max_steps": 5})
    more = FakeTrainer()
    sweep(out, more, m="2", seeds="0,1", train_options={"max_steps": 5})
    assert sorted(job.spec.name for job in more.calls) == ["maae-m2-s1", "wae-m2-s1"]
    assert len(read_csv(out / "results.csv")) == 4
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", "--max-steps", "6", "--out", out)
    line = assert_one_line_error(code, err)
    assert "train.max_steps: 5 there, 6 here" in line and "--out" in line


def test_runs_with_cuda_graphs_join_a_sweep_made_without(tmp_path):
    """CUDA graphs change how an iteration is computed, not what is trained (like --accelerator)."""
    out = tmp_path / "sw"
    sweep(out, FakeTrainer(), m="2", seeds="0", train_options={"max_steps": 5})
    more = FakeTrainer()
    sweep(out, more, m="2", seeds="0,1", train_options={"max_steps": 5, "cuda_graphs": True},
          train_args=["--cuda-graphs"])
    assert sorted(job.spec.name for job in more.calls) == ["maae-m2-s1", "wae-m2-s1"]


@pytest.mark.slow
def test_wae_runs_join_whatever_the_mask_settings_and_maae_runs_must_repeat_them(tmp_path):
    """WAE trains the same whatever the mask's settings (tests/test_steps.py), so WAE runs may join
    a folder made under other ones; MaskAAE runs must repeat those of the folder's MaskAAE runs."""
    out, r6, r3 = tmp_path / "sw", tmp_path / "r6.yaml", tmp_path / "r3.yaml"
    r6.write_text("mask:\n  rec_weight: 450\n  cycle_end_fraction: 0.45\n")
    r3.write_text("optim:\n  mask_rec_weight: 150\n  mask_cycle_end_fraction: 0.3\n")  # old names load

    def add(models: str, seeds: str, recipe: Path, **train) -> list[str]:
        trainer = FakeTrainer()
        sweep(out, trainer, m="2", seeds=seeds, models=models,
              train_options={"max_steps": 5, "recipe": str(recipe), **train})
        return [job.spec.name for job in trainer.calls]

    assert add("wae", "0", r6) == ["wae-m2-s0"]
    assert add("wae", "1", r3) == ["wae-m2-s1"]
    assert add("maae", "0", r3) == ["maae-m2-s0"]  # the first MaskAAE runs set the folder's mask
    with pytest.raises(UserError, match=r"mask.cycle_end_fraction: 0.3 there, 0.45 here"):
        add("maae", "1", r6)
    assert add("wae", "2", r6) == ["wae-m2-s2"]  # a WAE run still joins ...
    assert add("maae", "1", r3) == ["maae-m2-s1"]  # ... and the folder keeps the MaskAAE settings
    with pytest.raises(UserError, match=r"train.max_steps: 5 there, 6 here"):
        add("wae", "3", r3, max_steps=6)  # what WAE trains with still counts
    assert len(read_csv(out / "results.csv")) == 5


def test_folder_that_is_not_a_sweep_is_refused(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep")
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", "--out", tmp_path)
    assert "not a sweep folder" in assert_one_line_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


# --- the command line ---------------------------------------------------------------------------


def assert_one_line_error(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("args", "needle"), [
    (["--m", "8:2"], "STOP is below START"),
    (["--m", "2,x"], "'x' is not a whole number"),
    (["--m", "2", "--models", "maae,vae"], "unknown model 'vae'"),
    (["--m", "2", "--seeds", "-1"], "--seeds"),
    (["--m", "2", "--jobs", "0"], "--jobs"),
    (["--m", "2", "--max-steps", "0"], "--max-steps 0 is out of range"),
    (["--m", "2", "--recipe", "no-such-recipe"], "recipe 'no-such-recipe' not found"),
    (["--m", "2", "--no-such-option"], "No such option"),
    ([], "Missing option '--m'"),
])
def test_bad_options_give_one_error_line(tmp_path, capsys, args, needle):
    out = tmp_path / "sw"
    code, _, err = run_cli(capsys, "sweep-m", *args, "--out", out)
    assert needle in assert_one_line_error(code, err)
    assert not out.exists()  # nothing written for a bad command


def test_cli_passes_train_options_to_every_run(tmp_path, capsys, monkeypatch):
    seen: list[list[str]] = []

    def fake_call(self, job, slot):
        seen.append(self.train_command(job, slot))
        return FakeTrainer()(job, slot)

    monkeypatch.setattr(SubprocessRunner, "__call__", fake_call)
    out = tmp_path / "sw"
    code, stdout, err = run_cli(capsys, "sweep-m", "--m", "2:4:2", "--models", "wae", "--max-steps", "7",
                                "--no-download", "--recipe", "synthetic-reference", "--batch-size", "8",
                                "--jobs", "2", "--threads", "1", "--out", out, "--no-progress",
                                "--cuda-graphs")
    assert code == 0, err
    assert len(seen) == 2
    words = next(cmd for cmd in seen if "wae-m4-s0" in " ".join(cmd))
    text = " ".join(words)
    for part in ("train", "--max-steps 7", "--no-download", "--recipe synthetic-reference", "--cuda-graphs",
                 "--batch-size 8", "--model wae", "--m 4", "--seed 0", "--threads 1", "--no-progress",
                 f"--out {out / 'runs' / 'wae-m4-s0'}"):
        assert part in text, part
    assert "--overwrite" not in words
    assert "wae" in stdout and "cost:" in stdout and "results.csv" in stdout


def test_failed_run_is_reported_with_its_reason_and_exit_1(tmp_path, capsys, monkeypatch):
    trainer = FakeTrainer(fail={"wae-m2-s0"})
    monkeypatch.setattr(SubprocessRunner, "__call__", lambda self, job, slot: trainer(job, slot))
    out = tmp_path / "sw"
    code, stdout, err = run_cli(capsys, "sweep-m", "--m", "2", "--out", out, "--no-progress")
    assert code == 1
    assert "failed wae-m2-s0" in err and "train: boom" in err and "1 failed: re-run" in stdout
    rows = {r["model"]: r for r in read_csv(out / "results.csv")}
    assert rows["wae"]["status"] == "failed" and rows["maae"]["status"] == "done"


def test_interrupt_gives_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(self, job, slot):
        raise KeyboardInterrupt

    monkeypatch.setattr(SubprocessRunner, "__call__", interrupted)
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", "--out", tmp_path / "sw", "--no-progress")
    assert code == 130 and "interrupted" in err and "Traceback" not in err


def test_dry_run_writes_nothing(tmp_path, capsys):
    out = tmp_path / "sw"
    code, stdout, err = run_cli(capsys, "sweep-m", "--m", "2,4", "--dry-run", "--out", out)
    assert code == 0, err
    assert "maae-m4-s0" in stdout and "train" in stdout and not out.exists()


def test_every_train_option_is_mapped_to_the_config():
    from maskaae_cli.config import option_fields

    names = set(inspect.signature(train_cli.train).parameters) - {"recipe", "resume"}
    assert names == set(option_fields())


def test_help_explains_every_option(capsys):
    code, out, _ = run_cli(capsys, "sweep-m", "--help")
    assert code == 0
    for option in ("--m", "--models", "--seeds", "--out", "--jobs", "--threads", "--fid-n",
                   "--dry-run", "--recipe", "--max-steps", "--dataset", "--n-true"):
        assert option in out, option


# --- the runner ---------------------------------------------------------------------------------


def test_slots_share_cores_and_spread_gpus(monkeypatch):
    monkeypatch.setattr("maskaae_cli.sweep.runner.cpu_count", lambda: 16)
    assert [s.threads for s in make_slots(4, None, [])] == [4, 4, 4, 4]
    assert [s.gpu for s in make_slots(3, None, ["2", "5"])] == ["2", "5", "2"]
    assert make_slots(2, 3, []) == [Slot(0, 3, None), Slot(1, 3, None)]
    runner = SubprocessRunner([], [], Path("logs"))
    assert runner.env(Slot(1, 3, "5"))["CUDA_VISIBLE_DEVICES"] == "5"
    assert runner.env(Slot(0, 2, None))["OMP_NUM_THREADS"] == "2"


def test_failure_reason_is_one_line():
    assert failure_reason(2, "warning\nerror: --m bad: use 4\n") == "--m bad: use 4"
    trace = "Traceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n"
    assert failure_reason(1, trace) == "RuntimeError: CUDA out of memory"
    assert failure_reason(-9, "") == "killed by signal 9"


def test_runner_commands_work_with_the_real_train_and_fid(tmp_path, capsys):
    """The words the runner gives its subprocesses, run in-process: a real tiny training and fid."""
    recipe = tiny_recipe(tmp_path / "tiny.yaml", PERIODS)
    runner = SubprocessRunner(["--recipe", str(recipe), "--max-steps", "6"], ["--n", "128"], tmp_path)
    job = Job(RunSpec(3, 4, "wae"), tmp_path / "runs" / "wae-m4-s3", "train")
    code, _, err = run_cli(capsys, *runner.train_command(job, Slot(0, 1, None))[3:])
    assert code == 0, err
    row = load_result(job.spec, job.run_dir, "x")
    assert row.status == "done" and row.steps == 6 and row.active_dims == 4 and row.m == 4
    code, out, err = run_cli(capsys, *runner.fid_command(job)[3:])
    assert code == 0, err
    assert json.loads(out)["fid"] == pytest.approx(row.value, rel=1e-9)  # the same metric as fid
