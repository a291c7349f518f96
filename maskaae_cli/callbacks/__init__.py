"""Every Lightning callback of a maskaae run, one module each.

``training.build_callbacks`` and ``training.make_trainer`` put them in order (the divergence guard
first; Lightning's checkpointing always last):

| callback | what it does |
|---|---|
| :class:`DivergenceGuard` | stops a run whose losses or weights are no longer finite, before they are read |
| :class:`MaskHistory` | mask_history.csv and mask_trajectory.png |
| :class:`DashboardLogging` | alpha curves, rates, mask heatmap, samples, traversal (W&B, TensorBoard) |
| :class:`GracefulStop` | SIGINT / SIGTERM: a checkpoint, then ``errors.TrainingInterrupted`` |
| :class:`RankAgreement` | checks that every process ends with the same weights |
| :class:`FrechetEvaluation` | the Frechet distance of samples to the validation split at each evaluation |
| :class:`TrainingProgress` | the live display, redrawn only when its numbers change |
| :class:`CheapCudaCheck` | on the CPU, keeps ``torch.cuda.is_available()`` off NVML while fitting |
| :class:`CommitReplace` | ``--overwrite``: deletes the replaced run once the new one has trained |
"""

from maskaae_cli.callbacks.commit_replace import CommitReplace
from maskaae_cli.callbacks.cuda_check import CheapCudaCheck
from maskaae_cli.callbacks.dashboard import DashboardLogging
from maskaae_cli.callbacks.divergence_guard import DivergenceGuard
from maskaae_cli.callbacks.frechet import FrechetEvaluation
from maskaae_cli.callbacks.graceful_stop import GracefulStop
from maskaae_cli.callbacks.mask_history import MaskHistory
from maskaae_cli.callbacks.progress import TrainingProgress
from maskaae_cli.callbacks.rank_agreement import RankAgreement

__all__ = ["CheapCudaCheck", "CommitReplace", "DashboardLogging", "DivergenceGuard", "FrechetEvaluation",
           "GracefulStop", "MaskHistory", "RankAgreement", "TrainingProgress"]
