"""Pictures of a latent traversal: a labelled image grid, or the size of each dimension's change of a
decoded vector. Both come back as HxWx3 uint8 arrays (for PNG files and for the loggers)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from maskaae_cli.traverse import Traversal  # noqa: E402

DPI = 100
PAD = 2  # pixels between the images of the grid
MIN_CELL = 48  # small images (MNIST's 28 px) are drawn at a whole multiple of their size, at least this
ACTIVE_COLOUR, INACTIVE_COLOUR = "black", "tab:red"
CHAR_PX = 7.5  # width of a title character at 9 pt and 100 dpi, with room to spare


def _to_array(fig: plt.Figure) -> np.ndarray:
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def _row_label(tr: Traversal, j: int) -> str:
    return f"j={j}  \u03b1={float(tr.alpha[j]):.2f}"


def _title(tr: Traversal) -> str:
    """Two lines: what the base is, and how many dimensions are swept and active."""
    active = int(tr.active.sum())
    return (f"latent traversal, base {tr.base_label}\n{len(tr.dims)} dimensions swept, {active} of "
            f"{len(tr.alpha)} active (\u03b1 \u2265 {tr.threshold:g}; red: inactive)")


def image_grid(tr: Traversal) -> np.ndarray:
    """One row per swept dimension (labelled j and alpha_j; red: inactive), one column per value."""
    from torchvision.utils import make_grid

    rows, steps, channels, height, width = tr.outputs.shape
    images = tr.outputs.reshape(rows * steps, channels, height, width).clamp(0, 1)
    grid = make_grid(images, nrow=steps, padding=PAD, pad_value=0.5).permute(1, 2, 0).numpy()
    scale = max(1, -(-MIN_CELL // max(height, width)))
    grid_w, grid_h = grid.shape[1] * scale, grid.shape[0] * scale
    left, right, top, bottom = 120, 16, 58, 46
    title = _title(tr)
    min_w = int(CHAR_PX * max(len(line) for line in title.splitlines())) + 40
    total_w, total_h = max(grid_w + left + right, min_w), grid_h + top + bottom
    fig = plt.figure(figsize=(total_w / DPI, total_h / DPI), dpi=DPI)
    ax = fig.add_axes((left / total_w, bottom / total_h, grid_w / total_w, grid_h / total_h))
    ax.imshow(grid, interpolation="nearest")
    cell_h, cell_w = height + PAD, width + PAD
    ax.set_yticks([PAD / 2 + cell_h * (r + 0.5) for r in range(rows)])
    ax.set_yticklabels([_row_label(tr, j) for j in tr.dims], fontsize=8)
    for label, j in zip(ax.get_yticklabels(), tr.dims, strict=True):
        label.set_color(ACTIVE_COLOUR if bool(tr.active[j]) else INACTIVE_COLOUR)
    ax.set_xticks([PAD / 2 + cell_w * (c + 0.5) for c in range(steps)])
    ax.set_xticklabels([f"{float(v):.3g}" for v in tr.values], fontsize=8)
    ax.tick_params(length=0)
    ax.set_xlabel("value of the swept prior coordinate p_j (the others held at the base)", fontsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, fontsize=9, y=1 - 10 / total_h, va="top")
    return _to_array(fig)


def change_plot(tr: Traversal) -> np.ndarray:
    """Vectors: each swept dimension's root-mean-square change of the decoded vector (bars), and the
    change against the swept value (one line per dimension)."""
    rms = tr.change_rms().numpy()
    per_value = tr.changes().pow(2).mean(dim=2).sqrt().numpy()  # (rows, steps)
    colours = [("tab:blue" if bool(tr.active[j]) else "tab:red") for j in tr.dims]
    width = max(9.0, 3.5 + 0.32 * len(tr.dims))
    fig, (bars, lines) = plt.subplots(1, 2, figsize=(width, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    x = np.arange(len(tr.dims))
    bars.bar(x, rms, color=colours)
    bars.set_xticks(x)
    bars.set_xticklabels([f"{j}\n{float(tr.alpha[j]):.2f}" for j in tr.dims], fontsize=7)
    bars.set(xlabel="latent dimension j and its \u03b1_j (blue: active, red: inactive)",
             ylabel="RMS change of the decoded vector", title="change per dimension over the sweep")
    values = tr.values.numpy()
    for row, j in enumerate(tr.dims):
        active = bool(tr.active[j])
        lines.plot(values, per_value[row], color=colours[row], lw=1.2 if active else 0.8,
                   ls="-" if active else "--", alpha=0.9)
    lines.set(xlabel="value of p_j", ylabel="RMS change", title="change against the value")
    fig.suptitle(_title(tr), fontsize=9)
    fig.tight_layout()
    return _to_array(fig)


def picture(tr: Traversal, is_image: bool) -> np.ndarray:
    """The traversal's picture: the image grid for image models, the change plot for vectors."""
    return image_grid(tr) if is_image else change_plot(tr)


def png_bytes(image: np.ndarray) -> bytes:
    """An HxWx3 uint8 array as PNG bytes (no time stamp: the same array gives the same file)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    return buffer.getvalue()
