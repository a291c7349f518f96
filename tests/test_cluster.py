"""`sweep-m --launcher slurm`: the same sweep run as submitit jobs (through submitit's local
executor here), the job ids in jobs.json, resuming, --collect, --dry-run and the cluster options."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, run_cli
from cluster_support import ScriptedTrainer, calls, jobs, sweep, table, wait_for
from helpers import PERIODS, tiny_recipe

from maskaae_cli.errors import UserError
from maskaae_cli.sweep.cluster import parse_sbatch, parse_time
from maskaae_cli.sweep.runner import SubprocessRunner

submitit = pytest.importorskip("submitit")  # the test extra installs it: skipped only outside it

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _tasks_import_this_folder(monkeypatch):
    """submitit's task processes unpickle ScriptedTrainer from tests/cluster_support.py."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH"))
                                                     if p))


def result_written(out: Path, job_id: str) -> bool:
    return submitit.LocalJob(out / "submitit", job_id).paths.result_pickle.exists()


@pytest.mark.slow
def test_local_executor_runs_the_sweep_and_records_the_job_ids(tmp_path):
    out, control = tmp_path / "sw", tmp_path / "control"
    control.mkdir()
    printed = sweep(out, ScriptedTrainer(control))
    assert "submitted 4 run(s) to submitit's local executor" in printed
    rows = table(out)
    assert {r["status"] for r in rows.values()} == {"done"} and len(rows) == 4
    assert float(rows["wae-m4-s0"]["value"]) == pytest.approx(1.4)
    record = jobs(out)
    assert sorted(record["runs"]) == sorted(rows) and len(record["arrays"]) == 1
    ids = [entry["job_id"] for entry in record["runs"].values()]
    assert len(set(ids)) == 4 and all(entry["cluster"] == "local" for entry in record["runs"].values())
    assert (out / "sweep.png").is_file() and json.loads((out / "results.json").read_text())["cost"]
    assert sorted(calls(control)) == sorted(f"{name} train 0" for name in rows)

    again = sweep(out, ScriptedTrainer(control))  # every run done: nothing is submitted
    assert "submitted" not in again and "4 of 4 runs already done" in again
    assert jobs(out)["runs"] == record["runs"] and len(calls(control)) == 4


@pytest.mark.slow
def test_failed_and_cancelled_tasks_run_again_finished_and_running_ones_do_not(tmp_path):
    out, control = tmp_path / "sw", tmp_path / "control"
    control.mkdir()
    for name in ("maae-m4-s0", "wae-m4-s0"):  # the first keeps running, the second will be cancelled
        (control / f"hold-{name}").touch()
    (control / "fail-wae-m2-s0").touch()
    printed = sweep(out, ScriptedTrainer(control), wait=False)
    assert "not waiting for 4 run(s)" in printed
    first = {name: entry["job_id"] for name, entry in jobs(out)["runs"].items()}
    wait_for(lambda: (out / "runs" / "maae-m2-s0" / "summary.json").exists()
             and result_written(out, first["wae-m2-s0"])
             and {"wae-m4-s0 train 0", "maae-m4-s0 train 0"} <= set(calls(control)))
    os.kill(int(first["wae-m4-s0"]), signal.SIGINT)  # what LocalJob.cancel sends: like scancel
    gone = lambda: not Path(f"/proc/{first['wae-m4-s0']}/cmdline").read_bytes()  # noqa: E731 (a zombie)
    try:
        wait_for(gone, timeout=30.0)
    except AssertionError:  # the interrupt landed where the controller defers it (seen once in a full
        os.kill(int(first["wae-m4-s0"]), signal.SIGTERM)  # run): stop it as scancel's SIGTERM would
        wait_for(gone)

    sweep(out, ScriptedTrainer(control), collect=True)  # the results so far, and why runs are not done
    rows = table(out)
    assert rows["maae-m2-s0"]["status"] == "done" and rows["maae-m4-s0"]["status"] == "pending"
    assert rows["wae-m2-s0"]["status"] == "failed" and rows["wae-m2-s0"]["error"] == "train: boom"
    assert rows["wae-m4-s0"]["status"] == "failed"
    stopped = rows["wae-m4-s0"]["error"] == "train: stopped by SIGTERM"  # the fallback below the kill
    assert stopped or f"local job {first['wae-m4-s0']} ended (GONE) without" in rows["wae-m4-s0"]["error"]
    assert {n: e["job_id"] for n, e in jobs(out)["runs"].items()} == first  # --collect submits nothing

    (control / "fail-wae-m2-s0").unlink()
    printed = sweep(out, ScriptedTrainer(control), wait=False)
    assert f"1 run(s) still queued or running (not submitted again): maae-m4-s0 ({first['maae-m4-s0']})" \
        in printed and "submitted 2 run(s)" in printed
    second = jobs(out)
    now = {name: entry["job_id"] for name, entry in second["runs"].items()}
    assert now["maae-m2-s0"] == first["maae-m2-s0"] and now["maae-m4-s0"] == first["maae-m4-s0"]
    assert now["wae-m2-s0"] != first["wae-m2-s0"] and now["wae-m4-s0"] != first["wae-m4-s0"]
    replaced = {r["run"]: r for r in second["replaced"]}
    failed, cancelled = replaced["wae-m2-s0"], replaced["wae-m4-s0"]
    assert (failed["job_id"], failed["state"]) == (first["wae-m2-s0"], "FINISHED")
    assert failed["error"] == "train: boom"  # the task ran and the run failed
    assert cancelled["job_id"] == first["wae-m4-s0"]
    assert (cancelled["state"], cancelled["error"]) == ("FINISHED", "train: stopped by SIGTERM") if stopped \
        else cancelled["state"] == "GONE" and "ended (GONE) without finishing the run" in cancelled["error"]

    for name in ("maae-m4-s0", "wae-m4-s0"):
        (control / f"gate-{name}").touch()
    sweep(out, ScriptedTrainer(control))  # waits for the running one and the two resubmitted
    assert {r["status"] for r in table(out).values()} == {"done"}
    log = calls(control)
    assert log.count("maae-m2-s0 train 0") == 1 and log.count("maae-m4-s0 train 0") == 1
    assert "wae-m2-s0 train 1" in log and "wae-m4-s0 train 1" in log  # again, --overwrite of the folder
    assert len(log) == 6


@pytest.mark.slow
def test_a_real_sweep_through_the_local_executor(tmp_path, capsys):
    """The real job function: `maskaae train` subprocesses inside submitit's tasks, then the results."""
    recipe = tiny_recipe(tmp_path / "tiny.yaml", PERIODS)
    out = tmp_path / "sw"
    code, stdout, err = run_cli(capsys, "sweep-m", "--m", "3", "--launcher", "submitit-local", "--time", "10",
                                "--recipe", recipe, "--max-steps", "6", "--threads", "1", "--out", out,
                                "--no-progress")
    assert code == 0, err
    rows = table(out)
    assert {r["status"] for r in rows.values()} == {"done"} and set(rows) == {"maae-m3-s0", "wae-m3-s0"}
    assert {r["metric"] for r in rows.values()} == {"frechet_distance"}
    assert {r["steps"] for r in rows.values()} == {"6"}
    assert sorted(jobs(out)["runs"]) == sorted(rows) and "cost:" in stdout
    summary = json.loads((out / "runs" / "wae-m3-s0" / "summary.json").read_text())
    assert summary["m"] == 3 and summary["model"] == "wae"


# --- without a cluster: the script, the options, the errors ---------------------------------------


def test_dry_run_prints_the_sbatch_script_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "sw"
    code, stdout, err = run_cli(capsys, "sweep-m", "--m", "2,4", "--launcher", "slurm", "--dry-run", "--jobs",
                                "2", "--partition", "gpu", "--time", "1-02:00:00", "--account", "lab",
                                "--cpus-per-task", "6", "--sbatch", "qos=high", "--sbatch", "--exclusive",
                                "--out", out)
    assert code == 0, err
    for line in ("#SBATCH --array=0-3%2", "#SBATCH --partition=gpu", "#SBATCH --time=1560",
                 "#SBATCH --account=lab", "#SBATCH --cpus-per-task=6", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --qos=high", "#SBATCH --exclusive", "submitit.core._submit"):
        assert line in stdout, line
    assert "maae-m4-s0" in stdout and not out.exists()
    code, stdout, _ = run_cli(capsys, "sweep-m", "--m", "2", "--models", "wae", "--launcher", "slurm",
                              "--dry-run", "--accelerator", "cpu", "--out", out)
    assert code == 0 and "--gpus-per-node" not in stdout and "--array" not in stdout  # one run: one job


@pytest.mark.parametrize(("args", "needle"), [
    (["--launcher", "pbs"], "unknown --launcher 'pbs': use local, slurm, submitit-local"),
    (["--partition", "gpu"], "need --launcher slurm"),
    (["--no-wait"], "need --launcher slurm"),
    (["--launcher", "slurm", "--time", "soon"], "--time 'soon'"),
    (["--launcher", "slurm", "--sbatch", "qos="], "--sbatch 'qos='"),
    (["--launcher", "slurm", "--collect", "--dry-run"], "--collect and --dry-run"),
])
def test_bad_cluster_options_give_one_line(tmp_path, capsys, args, needle):
    out = tmp_path / "sw"
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", *args, "--out", out)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_without_submitit_one_line_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", "--launcher", "slurm", "--out", tmp_path / "sw")
    assert_one_line_error(code, err, "pip install 'maskaae[cluster]'")
    assert not (tmp_path / "sw").exists()


def test_without_srun_one_line_says_where_to_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    code, _, err = run_cli(capsys, "sweep-m", "--m", "2", "--launcher", "slurm", "--out", tmp_path / "sw")
    assert_one_line_error(code, err, "'srun' is not on this machine's PATH")


def test_help_explains_the_cluster_options(capsys):
    code, out, _ = run_cli(capsys, "sweep-m", "--help")
    assert code == 0
    for option in ("--launcher", "--collect", "--no-wait", "--partition", "--time", "--gpus-per-task",
                   "--cpus-per-task", "--account", "--sbatch", "maskaae[cluster]"):
        assert option in out, option


@pytest.mark.parametrize(("text", "minutes"), [("90", 90), ("30:30", 31), ("4:00:00", 240), ("1-12", 2160),
                                                ("2-00:30", 2910), ("0-01:00:01", 61)])
def test_time_limits(text, minutes):
    assert parse_time(text) == minutes


@pytest.mark.parametrize("text", ["", "x", "1:2:3:4", "-5", "0", "1-", "1:-2"])
def test_bad_time_limits(text):
    with pytest.raises(UserError, match="--time"):
        parse_time(text)


def test_extra_sbatch_lines():
    assert parse_sbatch(["qos=high", "--constraint=a100", "#SBATCH --exclusive", " mail-type = END "]) == {
        "qos": "high", "constraint": "a100", "exclusive": True, "mail-type": "END"}


def test_the_job_function_travels_to_the_task_without_its_live_children(tmp_path):
    runner = SubprocessRunner(["--max-steps", "5"], ["--n", "10"], tmp_path)
    copy = pickle.loads(pickle.dumps(runner))
    assert (copy.train_args, copy.fid_args, copy.log_dir) == (runner.train_args, runner.fid_args, tmp_path)
    assert copy._live == set() and not copy._stopping
