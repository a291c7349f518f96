"""`maskaae traverse`: one row per latent dimension, decoded like `maskaae sample`; a closed dimension
changes nothing; same seed, same picture; nothing is written on bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import IMAGE_SHAPE, assert_one_line_error, make_image_checkpoint, real_images, run_cli
from PIL import Image

from maskaae_cli.checkpoint import load_model
from maskaae_cli.cli import traverse as traverse_cli
from maskaae_cli.data.loading import as_float
from maskaae_cli.run_files import is_run_file
from maskaae_cli.sampling import generate, prior_batches


def npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def with_beta(src: Path, dst: Path, beta: list[float]) -> Path:
    """A copy of checkpoint ``src`` whose mask (and the moving average's) is set to ``beta``."""
    raw = torch.load(src, weights_only=True)
    for key in ("mask.beta", "ema.module.mask.beta"):
        if key in raw["state_dict"]:
            raw["state_dict"][key] = torch.tensor(beta)
    torch.save(raw, dst)
    return dst


@pytest.fixture
def image_ckpt(tmp_path, monkeypatch) -> Path:
    """A tiny 1x8x8 image model, m = 4: alpha = 0.95, 0.0 (closed), 0.78, 0.39."""
    monkeypatch.setattr(traverse_cli, "dataset_split", lambda model, split: real_images(10))
    ckpt = make_image_checkpoint(tmp_path / "img.ckpt", m=4)
    return with_beta(ckpt, ckpt, [3.0, 0.0, 1.5, 0.5])


def test_image_traversal_shapes_order_and_picture(image_ckpt, tmp_path, capsys):
    out = tmp_path / "t.png"
    code, stdout, err = run_cli(capsys, "traverse", image_ckpt, "--out", out, "--steps", 5, "--range", 2)
    assert code == 0, err
    arrays = npz(tmp_path / "t.npz")
    alpha = 1 - np.exp(-np.array([3.0, 0.0, 1.5, 0.5]))
    assert arrays["dims"].tolist() == [0, 2, 3]  # the active ones (alpha >= 0.1), largest alpha first
    assert arrays["images"].shape == (3, 5, *IMAGE_SHAPE) and arrays["images"].dtype == np.float32
    np.testing.assert_allclose(arrays["values"], [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(arrays["alpha"], alpha, rtol=1e-6)
    assert arrays["active"].tolist() == [True, False, True, True] and not arrays["base"].any()
    assert not (tmp_path / "t.csv").exists()  # the CSV is for vector models
    with Image.open(out) as img:
        assert img.mode == "RGB" and img.width >= 5 * 48 and img.height >= 3 * 48  # 8 px drawn >= 48 px
    assert "wrote" in stdout and str(out) in stdout
    code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / "all.png", "--dims", "all")
    assert code == 0, err
    every = npz(tmp_path / "all.npz")
    assert every["dims"].tolist() == [0, 2, 3, 1] and every["images"].shape[:2] == (4, 9)
    code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / "l.png", "--dims", "3,0")
    assert code == 0, err
    assert npz(tmp_path / "l.npz")["dims"].tolist() == [3, 0]  # a list keeps its order


def test_closed_dimension_changes_nothing_and_open_ones_do(image_ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / "t.png", "--dims", "all",
                           "--base", "sample")
    assert code == 0, err
    arrays = npz(tmp_path / "t.npz")
    rows = dict(zip(arrays["dims"].tolist(), range(4), strict=True))
    closed = arrays["images"][rows[1]]  # equal up to float rounding (a batch's rows may differ by ~1e-13)
    base = np.broadcast_to(arrays["base_output"], closed.shape)
    np.testing.assert_allclose(closed, base, rtol=0, atol=1e-6)
    assert arrays["change_rms"][rows[1]] < 1e-6
    assert all(arrays["change_rms"][rows[j]] > 1e-4 for j in (0, 2, 3))


def test_same_seed_same_picture_and_other_seeds_differ(image_ckpt, tmp_path, capsys):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / f"{name}.png",
                               "--base", "sample", "--seed", seed)
        assert code == 0, err
    a, b, c = (npz(tmp_path / f"{name}.npz") for name in "abc")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    np.testing.assert_array_equal(a["images"], b["images"])
    assert not np.allclose(a["images"], c["images"])
    model = load_model(image_ckpt)
    np.testing.assert_array_equal(a["base"], next(prior_batches(model, 1, 3, 1))[0].numpy())
    # the base decodes to the first sample 'maskaae sample --seed 3' makes
    np.testing.assert_allclose(a["base_output"], generate(model, 1, seed=3)[0].numpy(), atol=1e-6)


def test_base_image_index_uses_its_unmasked_encoding(image_ckpt, tmp_path, capsys):
    code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / "t.png", "--base", 7)
    assert code == 0, err
    model = load_model(image_ckpt)
    with torch.no_grad():
        expected = model.encoder(as_float(real_images(10)[7:8]))[0]
    np.testing.assert_allclose(npz(tmp_path / "t.npz")["base"], expected.numpy(), rtol=1e-5, atol=1e-6)
    code, _, err = run_cli(capsys, "traverse", image_ckpt, "--out", tmp_path / "u.png", "--base", 10)
    assert_one_line_error(code, err, "--base 10", "10 examples")
    assert not (tmp_path / "u.png").exists() and not (tmp_path / "u.npz").exists()


def test_vector_traversal_decodes_with_the_moving_average(trained_run, tmp_path, capsys):
    model = load_model(trained_run)
    assert model.ema is not None and int(model.ema.n_averaged) > 0
    closed = int(model.mask.alpha.argmin())
    beta = model.mask.beta.detach().clone()
    beta[closed] = 0.0
    ckpt = with_beta(trained_run / "model.ckpt", tmp_path / "closed.ckpt", beta.tolist())
    out = tmp_path / "v.png"
    code, stdout, err = run_cli(capsys, "traverse", ckpt, "--out", out)
    assert code == 0, err
    arrays = npz(tmp_path / "v.npz")
    assert arrays["dims"].tolist()[-1] == closed and len(arrays["dims"]) == 6  # vectors: every dimension
    assert arrays["vectors"].shape == (6, 9, 16)
    model = load_model(ckpt)
    row, j = 0, int(arrays["dims"][0])
    codes = torch.zeros(9, 6)
    codes[:, j] = torch.from_numpy(arrays["values"])
    with torch.no_grad():
        averaged, last = model.generate(codes, averaged=True), model.generate(codes, averaged=False)
    np.testing.assert_allclose(arrays["vectors"][row], averaged.numpy(), atol=1e-6)
    assert not np.allclose(arrays["vectors"][row], last.numpy(), atol=1e-4)
    with (tmp_path / "v.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 * 9 and len(rows[0]) == 7 + 16
    rms = {}
    for r in rows:
        rms.setdefault(int(r["dim"]), []).append(float(r["change_rms"]))
    assert max(rms[closed]) < 1e-6
    assert all(max(v) > 1e-3 for k, v in rms.items() if k != closed)
    assert [int(r["active"]) for r in rows if int(r["dim"]) == closed] == [0] * 9
    with Image.open(out) as img:
        assert img.width > 600 and img.height > 300


def test_default_output_goes_to_the_run_folder_and_inspect_names_it(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    code, out, err = run_cli(capsys, "inspect", run, "--json")
    assert code == 0, err
    assert json.loads(out)["traversal"] == []
    code, _, err = run_cli(capsys, "traverse", run)
    assert code == 0, err
    files = [run / "traverse.png", run / "traverse.npz", run / "traverse.csv"]
    assert all(p.is_file() for p in files) and all(is_run_file(p.name) for p in files)
    code, out, err = run_cli(capsys, "inspect", run)
    assert code == 0, err
    assert "latent traversal:" in out and "traverse.png" in out
    code, out, _ = run_cli(capsys, "inspect", run / "checkpoints" / "last.ckpt", "--json")
    assert str(run / "traverse.png") in out  # a checkpoint in checkpoints/ belongs to the run above
    before = [p.read_bytes() for p in files]
    code, _, err = run_cli(capsys, "traverse", run, "--base", "sample")
    assert_one_line_error(code, err, "traverse.png already exists", "--overwrite")
    assert [p.read_bytes() for p in files] == before
    code, _, err = run_cli(capsys, "traverse", run, "--base", "sample", "--overwrite")
    assert code == 0, err
    assert npz(run / "traverse.npz")["base"].any()


@pytest.mark.parametrize(("args", "needles"), [
    (["--out", "t.npz"], ["--out", ".png file name"]),
    (["--dims", "4"], ["--dims 4", "0 to 3"]),
    (["--dims", "0,0"], ["repeated"]),
    (["--dims", "x"], ["--dims 'x'"]),
    (["--base", "-1"], ["--base -1"]),
    (["--base", "middle"], ["--base 'middle'", "zero, sample"]),
    (["--range", "0"], ["--range"]),
    (["--range", "nan"], ["--range"]),
    (["--steps", "1"], ["--steps"]),
])
def test_bad_input_is_one_line_and_writes_nothing(image_ckpt, tmp_path, capsys, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, "traverse", image_ckpt, *args)
    assert_one_line_error(code, err, *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_no_active_dimension_asks_for_another_choice(tmp_path, capsys):
    ckpt = with_beta(make_image_checkpoint(tmp_path / "img.ckpt", m=3), tmp_path / "off.ckpt", [0.0] * 3)
    code, _, err = run_cli(capsys, "traverse", ckpt, "--out", tmp_path / "t.png")
    assert_one_line_error(code, err, "no active dimension", "--dims all")
    assert not (tmp_path / "t.png").exists()
    code, _, err = run_cli(capsys, "traverse", ckpt, "--out", tmp_path / "t.png", "--dims", "all")
    assert code == 0, err
    assert npz(tmp_path / "t.npz")["change_rms"].max() < 1e-6  # every dimension closed: nothing moves
