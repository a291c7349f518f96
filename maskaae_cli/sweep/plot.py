"""The sweep figure: the metric against m per model, and MaskAAE's active dimensions against m."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from maskaae_cli.atomic_io import atomic_write  # noqa: E402
from maskaae_cli.sweep.results import RunResult  # noqa: E402

LABELS = {"maae": "MaskAAE", "wae": "WAE"}
COLOURS = {"maae": "tab:blue", "wae": "tab:orange"}
METRIC_LABELS = {"frechet_distance": "Frechet distance (test split)", "fid": "FID (Inception)"}


def _curve(rows: list[RunResult], field: str) -> tuple[np.ndarray, ...]:
    """m values, and the mean, min and max over seeds of ``field``."""
    by_m: dict[int, list[float]] = {}
    for row in rows:
        value = getattr(row, field)
        if value is not None:
            by_m.setdefault(row.m, []).append(float(value))
    ms = sorted(by_m)
    mean = np.array([np.mean(by_m[m]) for m in ms])
    low = np.array([np.min(by_m[m]) for m in ms])
    high = np.array([np.max(by_m[m]) for m in ms])
    return np.array(ms), mean, low, high


def plot_sweep(rows: list[RunResult], out_stem: Path, n_true: int | None = None,
               title: str = "") -> list[Path]:
    """Write OUT_STEM.png and OUT_STEM.svg; return their paths."""
    done = [r for r in rows if r.status == "done"]
    metric = next((r.metric for r in done if r.metric), "metric")
    models = list(dict.fromkeys(r.model for r in rows))
    seeds = len({r.seed for r in rows})
    fig, (ax_q, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2))
    values = []
    for model in models:
        ms, mean, low, high = _curve([r for r in done if r.model == model], "value")
        if not len(ms):
            continue
        values += list(low) + list(high)
        colour = COLOURS.get(model)
        ax_q.plot(ms, mean, "o-", color=colour, label=f"{LABELS.get(model, model)} (mean)")
        ax_q.fill_between(ms, low, high, color=colour, alpha=0.2, lw=0)
    if values and min(values) > 0 and max(values) / min(values) > 20:
        ax_q.set_yscale("log")
    spread = f"band: min-max over {seeds} seeds" if seeds > 1 else "1 seed"
    ax_q.set(xlabel="latent size m", ylabel=METRIC_LABELS.get(metric, metric),
             title=f"quality against m ({spread})")

    trained = [r for r in rows if r.steps is not None]
    all_m = sorted({r.m for r in rows})
    if all_m:
        ax_a.plot(all_m, all_m, "--", color="grey", lw=1, label="all m dimensions (WAE)")
    for model in models:
        if model == "wae":
            continue  # no mask: every dimension is in use
        ms, mean, low, high = _curve([r for r in trained if r.model == model], "active_dims")
        if len(ms):
            colour = COLOURS.get(model)
            ax_a.plot(ms, mean, "o-", color=colour, label=f"{LABELS.get(model, model)} active dims")
            ax_a.fill_between(ms, low, high, color=colour, alpha=0.2, lw=0)
    if n_true:
        ax_q.axvline(n_true, color="green", ls=":", lw=1.2, label=f"true n = {n_true}")
        ax_a.axhline(n_true, color="green", ls=":", lw=1.2, label=f"true n = {n_true}")
    ax_a.set(xlabel="latent size m", ylabel="active dimensions", title="dimensions the mask keeps")
    for ax in (ax_q, ax_a):
        ax.set_xticks(all_m)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".svg")]
    for path in paths:
        atomic_write(path, lambda f, path=path: fig.savefig(f, dpi=120, format=path.suffix[1:]))
    plt.close(fig)
    return paths
