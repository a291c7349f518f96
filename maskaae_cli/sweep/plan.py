"""The sweep's grid: parse the --m / --seeds / --models lists and name each run."""

from __future__ import annotations

from dataclasses import dataclass

from maskaae_cli.config import MODELS
from maskaae_cli.errors import UserError

RANGE_HELP = "a list 4,8,16, a range START:STOP:STEP (STOP included when the steps reach it), or both mixed"
MAX_RUNS = 1_000  # a sweep larger than this is a typo, not a study


def parse_int_range(text: str, option: str, minimum: int) -> list[int]:
    """``"4,8,16"``, ``"2:32:2"`` (2, 4, ..., 32; STOP inclusive) or a mix such as ``"2:8:2,12,16"``.

    ``START:STOP`` steps by 1.  The result is sorted and free of repeats.
    """
    values: set[int] = set()
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UserError(f"{option} {text!r} has an empty entry: give {RANGE_HELP}")
    for item in items:
        parts = [p.strip() for p in item.split(":")]
        if len(parts) > 3:
            raise UserError(f"{option} {item!r} has too many ':' parts: write START:STOP:STEP")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise UserError(f"{option} {item!r} is not a whole number or START:STOP:STEP range: "
                            f"give {RANGE_HELP}") from None
        if len(numbers) == 1:
            values.add(numbers[0])
            continue
        start, stop, step = (*numbers, 1) if len(numbers) == 2 else numbers
        if step < 1:
            raise UserError(f"{option} {item!r}: the step must be at least 1")
        if stop < start:
            raise UserError(f"{option} {item!r}: STOP is below START; write {stop}:{start}:{step}")
        if (stop - start) // step + 1 + len(values) > MAX_RUNS:
            raise UserError(f"{option} {text!r} asks for more than {MAX_RUNS} values: a sweep that large is "
                            "not a study; give a shorter range or a larger step")
        values.update(range(start, stop + 1, step))
    low = min(values)
    if low < minimum:
        raise UserError(f"{option} {text!r} contains {low}: every value must be at least {minimum}")
    return sorted(values)


def parse_models(text: str) -> list[str]:
    """``"maae,wae"`` -> ["maae", "wae"] (in the order given, without repeats)."""
    names = [name.strip().lower() for name in text.split(",")]
    for name in names:
        if name not in MODELS:
            raise UserError(f"--models {text!r}: unknown model {name!r}; use maae, wae or maae,wae")
    return list(dict.fromkeys(names))


@dataclass(frozen=True, order=True)
class RunSpec:
    """One training of the sweep."""

    seed: int
    m: int
    model: str

    @property
    def name(self) -> str:
        """The run folder's name: ``<model>-m<m>-s<seed>``."""
        return f"{self.model}-m{self.m}-s{self.seed}"


def grid(models: list[str], ms: list[int], seeds: list[int]) -> list[RunSpec]:
    """Every (model, m, seed); seeds outermost, so a partial sweep already has whole curves."""
    total = len(models) * len(ms) * len(seeds)
    if total > MAX_RUNS:
        raise UserError(f"the sweep asks for {total} runs ({len(models)} models x {len(ms)} m values x "
                        f"{len(seeds)} seeds), more than {MAX_RUNS}: narrow --m or --seeds")
    return [RunSpec(seed, m, model) for seed in seeds for m in ms for model in models]
