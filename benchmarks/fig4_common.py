"""What the Figure 4c studies share (mnist_fig4.py, cifar_fig4.py): running `maskaae` as a user
does, and the figure of quality and active dimensions against the latent size m."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
