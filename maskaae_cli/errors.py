"""The exceptions that the CLI turns into a single clear error line (no torch imported here)."""

import signal
from pathlib import Path

from maskaae_cli.run_files import LAST_CHECKPOINT


class UserError(Exception):
    """Bad input from the user: the message names the problem and the fix."""


class Terminated(BaseException):  # noqa: N818  (like KeyboardInterrupt: not an error of the program)
    """SIGTERM arrived: raised where the program was, so every writer removes its temporary file."""

    exit_code = 143  # the shell's convention, 128 + SIGTERM

    def __init__(self, signum: int = 15) -> None:
        self.signum = signum
        super().__init__("terminated")


class TrainingDiverged(Exception):  # noqa: N818  (a run's end, reported as one line)
    """Training produced a non-finite value (``what``) by ``iteration``."""

    exit_code = 3

    def __init__(self, iteration: int, what: str, last_finite: int | None = None) -> None:
        self.iteration, self.what, self.last_finite = iteration, what, last_finite
        since = f" (finite at iteration {last_finite})" if last_finite is not None else ""
        super().__init__(f"training diverged: {what} is not finite at iteration {iteration}{since}; "
                         f"{LAST_CHECKPOINT} keeps the last finite checkpoint, if one was due; lower the "
                         "learning rates (optim.lr_*, mask.lr) or change the seed, then train again")


class TrainingInterrupted(Exception):  # noqa: N818  (a normal way for a run to end, not an error)
    """Training stopped on a signal after saving ``checkpoint`` at ``iteration``."""

    def __init__(self, signum: int, iteration: int, checkpoint: Path, is_global_zero: bool) -> None:
        self.signum, self.iteration, self.checkpoint = signum, iteration, checkpoint
        self.is_global_zero = is_global_zero
        super().__init__(f"{self.signal_name} at iteration {iteration}; checkpoint {checkpoint}")

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM
