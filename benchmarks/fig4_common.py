"""What the Figure 4c studies share (mnist_fig4.py, cifar_fig4.py, fashion_fig4.py): running `maskaae`
as a user does, a grid of runs recorded one by one as they finish (``Study``), the intrinsic-dimension
estimate, the verdicts' printing, and the figure of quality and active dimensions against m."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from maskaae_cli.errors import UserError
from maskaae_cli.recipe import load_recipe
from maskaae_cli.sweep.plan import RunSpec, grid, parse_int_range

MODELS = ("wae", "maae")


def cli(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``maskaae ARGS`` as a user runs it (this interpreter, this package); its output captured."""
    result = subprocess.run([sys.executable, "-m", "maskaae_cli", *map(str, args)], capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        sys.exit(f"error: maskaae {' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result


def run_sweep(words: Sequence[object]) -> None:
    """``maskaae sweep-m WORDS...`` (``words`` starts with "sweep-m"), printed first, its output shown;
    exits when a run failed."""
    print("$ maskaae " + " ".join(map(str, words)), flush=True)
    if subprocess.run([sys.executable, "-m", "maskaae_cli", *map(str, words)], text=True).returncode != 0:
        sys.exit("error: the sweep had failed runs: re-run the same command to retry them")


def wanted_runs(models: Sequence[str], ms: str, seed1_ms: str) -> list[RunSpec]:
    """Every (model, m) of ``ms`` with seed 0 and of ``seed1_ms`` with seed 1, in the order they train:
    seed 0 first, the largest m first, MaskAAE before WAE (the runs the targets are about first)."""
    wanted = grid(list(models), parse_int_range(ms, "--m", 1), [0])
    if seed1_ms:
        wanted += grid(list(models), parse_int_range(seed1_ms, "--seed1-m", 1), [1])
    return sorted(wanted, key=lambda w: (w.seed, -w.m, w.model != "maae"))


def recipe_digest(recipe: str, model: str) -> str:
    """A sha256 prefix of what a ``model`` run reads from ``recipe`` (its fields with every base
    merged; a WAE run has no mask, so the mask's fields are left out): a record trained under an
    earlier version of a preset does not stand in for the preset as it is now."""
    fields = load_recipe(recipe)
    if model != "maae":
        fields = {section: values for section, values in fields.items() if section != "mask"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Study:
    """A grid recorded run by run: each (model, m, seed) is trained by ``maskaae sweep-m`` in a sweep
    folder of its own (WORKDIR/sweep/NAME, so runs go side by side), measured as soon as it finishes
    (``maskaae fid RUN --features FEATURES``) and written to RECORDS/NAME.json. Commit the records: a
    grid longer than a session resumes from them, and trains only the runs without one (even where
    the run folders are gone); a record counts only where it matches ``key`` (the classifier's
    sha256, and whatever else the figures depend on) and, with ``recipe``, what its model reads of the
    recipe as it is now (``recipe_digest``)."""

    workdir: Path
    records: Path
    words: Sequence[object]  # every run's data and training options: --dataset ..., --recipe ...
    features: Path  # the classifier's TorchScript feature space (--eval-features, fid --features)
    key: dict[str, Any]  # what a record must match to be reused, written into each record
    measure_only: bool = False  # train nothing: measure what has finished
    fid_words: Sequence[object] = field(default_factory=tuple)  # more options for 'maskaae fid'
    recipe: str | None = None  # the runs' recipe: records carry its digest and must match it
    digests: dict[str, str] = field(init=False, default_factory=dict)  # recipe_digest by model

    def __post_init__(self) -> None:
        """Read the recipe once, before any run: a recipe that cannot be read is one error line."""
        if self.recipe is None:
            return
        try:
            self.digests = {model: recipe_digest(self.recipe, model) for model in MODELS}
        except UserError as exc:
            sys.exit(f"error: {exc}")

    def run_key(self, spec: RunSpec) -> dict[str, Any]:
        """What ``spec``'s record must match to be reused."""
        digest = {"recipe_sha256": self.digests[spec.model]} if self.digests else {}
        return {**self.key, **digest}

    def run_folder(self, name: str) -> Path:
        return self.workdir / "sweep" / name / "runs" / name

    def recorded(self, spec: RunSpec) -> dict[str, Any] | None:
        record = self.records / f"{spec.name}.json"
        row = json.loads(record.read_text()) if record.is_file() else None
        wanted = self.run_key(spec)
        return row if row is not None and all(row.get(k) == v for k, v in wanted.items()) else None

    def train(self, spec: RunSpec) -> None:
        """``spec`` as ``maskaae sweep-m`` trains it, one thread, its output in WORKDIR/sweep/NAME.log."""
        words = ["sweep-m", *self.words, "--m", spec.m, "--seeds", spec.seed, "--models", spec.model,
                 "--jobs", 1, "--threads", 1, "--eval-features", self.features,
                 "--out", self.workdir / "sweep" / spec.name, "--no-progress"]
        print("$ maskaae " + " ".join(map(str, words)), flush=True)
        log = self.workdir / "sweep" / f"{spec.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            code = subprocess.run([sys.executable, "-m", "maskaae_cli", *map(str, words)], stdout=out,
                                  stderr=subprocess.STDOUT).returncode
        if code != 0:
            print(f"error: {spec.name} failed (see {log}): re-run the same command to retry it", flush=True)

    def measure(self, spec: RunSpec) -> dict[str, Any]:
        run = self.run_folder(spec.name)
        summary = json.loads((run / "summary.json").read_text())
        clf = json.loads(cli("fid", run, "--features", self.features, "--json", "--seed", spec.seed,
                             "-n", 10_000, *self.fid_words, "--no-progress").stdout)
        return {"name": spec.name, "model": spec.model, "m": spec.m, "seed": spec.seed,
                "active_dims": summary["active_dims"], "steps": summary["steps"],
                "frechet_classifier": clf["fid"], **self.run_key(spec),
                "test_reconstruction": summary.get("test_reconstruction"),
                "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"]}

    def train_and_record(self, spec: RunSpec) -> dict[str, Any] | None:
        """Train ``spec`` unless it is recorded or finished, then measure it and write its record at once."""
        row = self.recorded(spec)
        if row is not None:
            return row
        run = self.run_folder(spec.name)
        if not (run / "summary.json").is_file() and not self.measure_only:
            self.train(spec)
        if not (run / "summary.json").is_file():
            return None
        row = self.measure(spec)
        (self.records / f"{spec.name}.json").write_text(json.dumps(row, indent=2) + "\n")
        print(f"recorded {spec.name}: {row['active_dims']} active, FD classifier "
              f"{row['frechet_classifier']:.2f}, {row['wall_seconds'] / 60:.1f} min", flush=True)
        return row

    def run(self, wanted: Sequence[RunSpec], jobs: int) -> dict[str, dict[str, Any]]:
        """Every wanted run's record, ``jobs`` runs at a time; the runs that did not finish are left out."""
        self.records.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return {r["name"]: r for r in pool.map(self.train_and_record, wanted) if r is not None}


def intrinsic_dims(file: Path, data: str, *words: object, shown: str | None = None
                   ) -> tuple[dict[str, Any], float | None]:
    """``maskaae dims DATA WORDS --json`` (10,000 training samples, or all where fewer; kept in ``file``,
    computed only when it is missing) and its MLE estimate at k = 20; ``shown`` stands for DATA in the
    file (not this machine's path)."""
    if not file.is_file():
        file.parent.mkdir(parents=True, exist_ok=True)
        dims = json.loads(cli("dims", data, *words, "--json", "--no-progress").stdout)
        if shown is not None:
            dims |= {key: shown for key in ("data", "dataset") if dims.get(key) == data}
        file.write_text(json.dumps(dims, indent=2) + "\n")
    dims = json.loads(file.read_text())
    mle = next((e["dimension"] for e in dims.get("estimates", [])
                if e.get("estimator") == "mle" and e.get("k") == 20), None)
    return dims, mle


def judged(checks: list[dict[str, Any]], wanted: Sequence[RunSpec], done: Collection[str]) -> list[str]:
    """Add a target for the runs of ``wanted`` not in ``done`` (their names returned), print every
    target with its verdict."""
    missing = [w.name for w in wanted if w.name not in done]
    if missing:
        checks.append({"target": "the whole grid measured", "measured": f"{len(missing)} of {len(wanted)} "
                       f"runs missing: {', '.join(missing)}", "met": False})
    for c in checks:
        print(f"[{'MET' if c['met'] else 'NOT MET'}] {c['target']}: {c['measured']}")
    return missing


def machine(jobs: int, note: str) -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "jobs": jobs, "threads_per_job": 1, "note": note}


def plot_against_m(rows: list[dict[str, Any]], path: Path, title: str,
                   quality: Sequence[tuple[str, str, str]], mark_active: Callable[[Any, list[int]], None],
                   figsize: tuple[float, float]) -> None:
    """One panel per ``quality`` (row key, y label, title) and a last one of MaskAAE's active dimensions,
    each against m (seed 0 as lines, seed 1 as open markers). ``mark_active(axes, all_m)`` adds the
    study's own references to the last panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(quality) + 1, figsize=figsize)
    *ax_quality, ax_a = axes
    colours, names = {"wae": "tab:orange", "maae": "tab:blue"}, {"wae": "WAE", "maae": "MaskAAE"}
    for model in MODELS:
        for seed, style in ((0, "o-"), (1, "s")):
            pts = sorted((r["m"], r) for r in rows if r["model"] == model and r["seed"] == seed)
            if not pts:
                continue
            ms = [m for m, _ in pts]
            kw = {"color": colours[model], "label": names[model] + (" (seed 1)" if seed else ""),
                  "mfc": "none" if seed else colours[model]}
            for ax, (key, _, _) in zip(ax_quality, quality, strict=True):
                ax.plot(ms, [r[key] for _, r in pts], style, **kw)
            if model == "maae":
                ax_a.plot(ms, [r["active_dims"] for _, r in pts], style, **kw)
    all_m = sorted({r["m"] for r in rows})
    ax_a.plot(all_m, all_m, "--", color="grey", lw=1, label="all m (WAE)")
    mark_active(ax_a, all_m)
    for ax, (_, ylabel, panel) in zip(ax_quality, quality, strict=True):
        ax.set(ylabel=ylabel, title=panel)
    ax_a.set(ylabel="active dimensions", title="dimensions the mask keeps")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(all_m, [str(m) for m in all_m])
        ax.set_xlabel("latent size m")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
