"""`maskaae sample`: formats, repeatability per seed, reconstructions and the overwrite guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_support import IMAGE_SHAPE, assert_one_line_error, make_image_checkpoint, real_images, run_cli
from PIL import Image

from maskaae_cli.checkpoint import load_model
from maskaae_cli.cli import sample as sample_cli
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.sampling import generate


def npz(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def test_samples_repeat_per_seed_and_differ_across_seeds(trained_run, tmp_path, capsys):
    outs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        code, out, err = run_cli(capsys, "sample", trained_run, "-n", "50", "--seed", seed,
                                 "--out", tmp_path / f"{name}.npz", "--device", "cpu")
        assert code == 0, err
        assert "50 samples" in out
        outs[name] = npz(tmp_path / f"{name}.npz")["samples"]
    assert outs["a"].shape == (50, 16) and outs["a"].dtype == np.float32
    assert np.array_equal(outs["a"], outs["b"])
    assert not np.allclose(outs["a"], outs["c"])


def test_samples_do_not_depend_on_batch_size_and_n_is_a_prefix(trained_run):
    model = load_model(trained_run)
    big = generate(model, 1500, seed=7, batch_size=1000)
    small = generate(model, 1100, seed=7, batch_size=37)
    torch.testing.assert_close(big[:1100], small)


def test_default_output_and_overwrite_guard(trained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "20")
    assert code == 0, err
    first = (tmp_path / "samples.npz").read_bytes()
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "30", "--seed", "5")
    assert_one_line_error(code, err, "samples.npz", "--overwrite")
    assert (tmp_path / "samples.npz").read_bytes() == first
    code, _, err = run_cli(capsys, "sample", trained_run, "-n", "30", "--seed", "5", "--overwrite")
    assert code == 0, err
    assert npz(tmp_path / "samples.npz")["samples"].shape == (30, 16)


def test_vector_formats_csv_and_pt(trained_run, tmp_path, capsys):
    assert run_cli(capsys, "sample", trained_run, "-n", "8", "--out", tmp_path / "s.csv")[0] == 0
    assert run_cli(capsys, "sample", trained_run, "-n", "8", "--out", tmp_path / "s.pt")[0] == 0
    assert run_cli(capsys, "sample", trained_run, "-n", "8", "--out", tmp_path / "s.npz")[0] == 0
    csv = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    pt = torch.load(tmp_path / "s.pt", weights_only=True)["samples"]
    ref = npz(tmp_path / "s.npz")["samples"]
    assert header[0] == "x_0" and len(header) == 16
    np.testing.assert_allclose(csv, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pt.numpy(), ref)


@pytest.mark.parametrize(("name", "needle"), [("s.png", ".npz, .pt, .csv"), ("s.txt", ".txt")])
def test_unusable_output_suffix_is_one_line(trained_run, tmp_path, capsys, name, needle):
    code, _, err = run_cli(capsys, "sample", trained_run, "--out", tmp_path / name)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / name).exists()


def test_synthetic_reconstructions_pair_test_data(trained_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", trained_run, "--reconstruct", "-n", "12",
                           "--out", tmp_path / "r.npz")
    assert code == 0, err
    got = npz(tmp_path / "r.npz")
    model = load_model(trained_run)
    dm = MaskAAEDataModule(model.cfg.data)
    dm.setup()
    np.testing.assert_array_equal(got["originals"], dm.test_data[:12].numpy())
    with torch.no_grad():
        expected = model.reconstruct(dm.test_data[:12]).numpy()
    np.testing.assert_allclose(got["reconstructions"], expected, rtol=1e-5, atol=1e-6)
    code, _, err = run_cli(capsys, "sample", trained_run, "--reconstruct", "-n", "100000",
                           "--out", tmp_path / "big.npz")
    assert_one_line_error(code, err, "test split")


@pytest.fixture
def image_ckpt(tmp_path, monkeypatch):
    monkeypatch.setattr(sample_cli, "dataset_split", lambda model, split: real_images(40))
    return make_image_checkpoint(tmp_path / "img.ckpt")


def test_image_png_grid_and_tensors(image_ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", image_ckpt, "-n", "12", "--nrow", "4",
                           "--out", tmp_path / "grid.png", "--device", "cpu")
    assert code == 0, err
    with Image.open(tmp_path / "grid.png") as img:  # 3 rows x 4 columns of 8x8 with 2px padding
        assert img.size == (4 * 10 + 2, 3 * 10 + 2)
    assert run_cli(capsys, "sample", image_ckpt, "-n", "12", "--out", tmp_path / "s.npz")[0] == 0
    samples = npz(tmp_path / "s.npz")["samples"]
    assert samples.shape == (12, *IMAGE_SHAPE) and 0 <= samples.min() and samples.max() <= 1
    code, _, err = run_cli(capsys, "sample", image_ckpt, "--out", tmp_path / "s.csv")
    assert_one_line_error(code, err, ".png, .npz, .pt")


def test_image_reconstruction_grid_alternates_rows(image_ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", image_ckpt, "--reconstruct", "-n", "10", "--nrow", "4",
                           "--out", tmp_path / "rec.png")
    assert code == 0, err
    grid = np.asarray(Image.open(tmp_path / "rec.png").convert("L"))
    assert grid.shape == (6 * 10 + 2, 4 * 10 + 2)  # 3 pairs of rows (the last padded)
    originals = real_images(40)[:10, 0].numpy()
    for i in range(10):  # originals sit in rows 0, 2, 4 at their column
        row, col = 2 * (i // 4), i % 4
        cell = grid[2 + 10 * row : 10 + 10 * row, 2 + 10 * col : 10 + 10 * col]
        np.testing.assert_array_equal(cell, originals[i])
    assert run_cli(capsys, "sample", image_ckpt, "--reconstruct", "-n", "5",
                   "--out", tmp_path / "rec.pt")[0] == 0
    pairs = torch.load(tmp_path / "rec.pt", weights_only=True)
    assert pairs["originals"].shape == pairs["reconstructions"].shape == (5, *IMAGE_SHAPE)
