"""Every use of submitit (the optional extra ``cluster``), its private API included.

Tested on submitit 1.5.x.  Private parts: ``SlurmExecutor._make_submission_file_text`` (the dry run
prints the script an array submission writes, without ``srun`` on this machine) and
``LocalJob._process`` (a local job started by this process is polled; one started by an earlier
sweep-m is found by its controller's process id).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from maskaae_cli.errors import UserError

INSTALL = "pip install 'maskaae[cluster]'"
# SLURM states of a job whose task may still run (or run again): its run is not submitted again.
# COMPLETING is not one: the task has ended (a cancelled task's processes are being killed).
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "RESIZING", "SUSPENDED", "PREEMPTED", "READY",
          "REQUEUE_HOLD", "REQUEUE_FED", "SIGNALING", "RESV_DEL_HOLD"}
FINISHED = "FINISHED"  # the task wrote its result


def require(what: str) -> ModuleType:
    """The submitit module, or one line saying how to install it."""
    try:
        import submitit
    except ImportError:
        raise UserError(f"{what} needs submitit, which is not installed: {INSTALL}") from None
    return submitit


NO_SRUN = ("--launcher slurm: SLURM's 'srun' is not on this machine's PATH: run sweep-m on the cluster's "
           "login node (add --dry-run to print the sbatch script here)")


def check_slurm() -> None:
    """One line before anything is written when SLURM's commands are not here."""
    if shutil.which("srun") is None:
        raise UserError(NO_SRUN)


def make_executor(cluster: str, folder: Path, params: dict[str, Any]) -> Any:
    """A SlurmExecutor with ``params`` (sbatch names), or a LocalExecutor with its time limit."""
    submitit = require(f"--launcher {cluster}")
    if cluster == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=params["time"], gpus_per_node=params.get("gpus_per_node", 0))
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=folder)
    except RuntimeError:
        raise UserError(NO_SRUN) from None
    _update(executor, params)
    return executor


def _update(executor: Any, params: dict[str, Any]) -> None:
    try:
        executor.update_parameters(**params)
    except ValueError as exc:
        raise UserError(f"the SLURM options are not valid: {str(exc).splitlines()[0]}") from None


def sbatch_script(folder: Path, params: dict[str, Any], count: int) -> str:
    """The sbatch script ``count`` runs would be submitted with (one array; no ``srun`` needed)."""
    submitit = require("--launcher slurm --dry-run")

    class ScriptOnly(submitit.SlurmExecutor):
        @classmethod
        def affinity(cls) -> int:  # it only writes text: SLURM need not be installed here
            return 2

    executor = ScriptOnly(folder=folder)
    _update(executor, params)
    if count > 1:
        executor.parameters["map_count"] = count  # what SlurmExecutor sets for an array
    return executor._make_submission_file_text(executor._submitit_command_str, "dry-run")


def submit_array(executor: Any, fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    """Submit ``fn(*args)`` for each of ``calls`` as one array (SLURM) or one process each (local)."""
    with executor.batch():
        jobs = [executor.submit(fn, *args) for args in calls]
    return jobs


def attach(cluster: str, folder: Path, job_id: str) -> Any:
    """The submitit job ``job_id`` (submitted earlier, maybe by another process)."""
    submitit = require(f"--launcher {cluster}")
    return (submitit.LocalJob if cluster == "local" else submitit.SlurmJob)(folder=folder, job_id=job_id)


def job_state(cluster: str, job: Any) -> str:
    """FINISHED (the task wrote its result), an ACTIVE state, or the state the job ended in."""
    if job.paths.result_pickle.exists():
        return FINISHED
    if cluster == "local":
        if getattr(job, "_process", None) is not None:
            return str(job.state).upper()  # RUNNING, FINISHED (no result: it failed) or INTERRUPTED
        return "RUNNING" if _controller_alive(job.job_id) else "GONE"
    state = (str(job.state).split() or ["UNKNOWN"])[0].upper()  # sacct's, e.g. "CANCELLED by 0"
    if state == "UNKNOWN":  # sacct unavailable (no accounting) or not yet updated: ask slurmctld
        state = _scontrol_state(job.job_id) or "GONE"
    return state


def result(job: Any) -> Any:
    """What the finished task returned (raises what the task raised)."""
    return job.result()


def _controller_alive(job_id: str) -> bool:
    """Whether the local job's controller process (its id is the job id) still runs."""
    try:
        return b"submitit" in Path(f"/proc/{int(job_id)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


def _scontrol_state(job_id: str) -> str | None:
    """JobState from ``scontrol show job`` (slurmctld keeps ended jobs for MinJobAge), or None."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for word in out.split():
        if word.startswith("JobState="):
            return word.removeprefix("JobState=").upper()
    return None
