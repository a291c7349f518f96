"""Figures written into run folders."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from maskaae_cli.atomic_io import atomic_write


def plot_mask_trajectory(steps: np.ndarray, alphas: np.ndarray, path: Path, threshold: float = 0.1,
                         title: str = "") -> None:
    """alpha_j against training step (one line per dimension) and a dims x steps heatmap."""
    fig, (ax, hm) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.3, 1]})
    final_on = alphas[-1] >= threshold
    for j in range(alphas.shape[1]):
        ax.plot(steps, alphas[:, j], lw=1, color="tab:blue" if final_on[j] else "tab:red", alpha=0.8)
    ax.axhline(threshold, color="grey", ls="--", lw=0.8, label=f"active threshold {threshold}")
    ax.set(xlabel="training step", ylabel="alpha_j", ylim=(-0.02, 1.02),
           title=title or f"mask: {int(final_on.sum())} of {alphas.shape[1]} dimensions active")
    ax.legend(loc="lower left", fontsize=8)
    order = np.argsort(-alphas[-1])
    im = hm.imshow(alphas[:, order].T, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   extent=(steps[0], steps[-1], -0.5, alphas.shape[1] - 0.5), interpolation="nearest")
    hm.set(xlabel="training step", ylabel="dimension (sorted by final alpha)", title="alpha heatmap")
    fig.colorbar(im, ax=hm, fraction=0.05)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=110, format="png"))
    plt.close(fig)


def mask_heatmap_image(steps: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """alpha as a dimensions x iterations heatmap, rendered to an HxWx3 uint8 array for loggers."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    im = ax.imshow(alphas.T, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   extent=(steps[0], steps[-1], -0.5, alphas.shape[1] - 0.5), interpolation="nearest")
    ax.set(xlabel="iteration", ylabel="dimension j", title="mask alpha_j")
    fig.colorbar(im, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image
