"""`sweep-m --launcher slurm` on a real SLURM: the one-node cluster of benchmarks/slurm_localhost.sh.

Skipped unless a SLURM controller answers here (``sinfo``; set SLURM_CONF for a non-default one).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import run_cli
from cluster_support import ScriptedTrainer, calls, jobs, sweep, table, wait_for
from helpers import PERIODS, tiny_recipe

pytest.importorskip("submitit")


def slurm_answers() -> bool:
    if shutil.which("sinfo") is None or shutil.which("srun") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(s.rstrip("*~#") in ("idle", "mixed", "allocated", "completing") for s in states.split())


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not slurm_answers(), reason="no SLURM here (benchmarks/slurm_localhost.sh)")]


def test_a_four_run_sweep_as_a_slurm_job_array(tmp_path, capsys):
    recipe = tiny_recipe(tmp_path / "tiny.yaml", PERIODS)
    out = tmp_path / "sw"
    args = ["sweep-m", "--m", "2,4", "--launcher", "slurm", "--accelerator", "cpu", "--cpus-per-task", "1",
            "--time", "10", "--recipe", recipe, "--max-steps", "6", "--out", out, "--no-progress"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    rows = table(out)
    assert len(rows) == 4 and {r["status"] for r in rows.values()} == {"done"}
    record = jobs(out)
    array = record["arrays"][0]["array_id"]
    assert sorted(e["job_id"] for e in record["runs"].values()) == [f"{array}_{i}" for i in range(4)]
    assert (out / "sweep.png").is_file() and "cost:" in stdout
    code, _, err = run_cli(capsys, *args)  # done: nothing submitted
    assert code == 0 and "submitted" not in err and jobs(out)["arrays"] == record["arrays"]


def test_a_cancelled_task_is_submitted_again_and_a_running_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent))  # sbatch exports it to tasks
    out, control = tmp_path / "sw", tmp_path / "control"
    control.mkdir()
    for name in ("maae-m2-s0", "wae-m2-s0"):
        (control / f"hold-{name}").touch()
    sweep(out, ScriptedTrainer(control), m="2", launcher="slurm", wait=False)
    first = {name: e["job_id"] for name, e in jobs(out)["runs"].items()}
    wait_for(lambda: len(calls(control)) == 2, timeout=120)  # both tasks are running
    subprocess.run(["scancel", first["wae-m2-s0"]], check=True)
    time.sleep(2)
    printed = sweep(out, ScriptedTrainer(control), m="2", launcher="slurm", wait=False)
    assert f"still queued or running (not submitted again): maae-m2-s0 ({first['maae-m2-s0']})" in printed
    now = {name: e["job_id"] for name, e in jobs(out)["runs"].items()}
    assert now["maae-m2-s0"] == first["maae-m2-s0"] and now["wae-m2-s0"] != first["wae-m2-s0"]
    for name in ("maae-m2-s0", "wae-m2-s0"):
        (control / f"gate-{name}").touch()
    sweep(out, ScriptedTrainer(control), m="2", launcher="slurm")
    assert {r["status"] for r in table(out).values()} == {"done"}
    assert calls(control).count("maae-m2-s0 train 0") == 1 and "wae-m2-s0 train 1" in calls(control)
