"""Image datasets read from their real on-disk formats, through the code users hit."""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from cli_support import run_cli
from helpers import Payload
from image_fixtures import (
    digits,
    face,
    idx_bytes,
    write_celeba,
    write_cifar,
    write_idx_set,
    write_image_folder,
)
from PIL import Image

from maskaae_cli.config import DataConfig
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.data.paths import data_dir, default_data_dir
from maskaae_cli.data.registry import load_splits
from maskaae_cli.errors import UserError


def cfg_for(dataset: str, root: Path | None = None, **kw) -> DataConfig:
    return DataConfig(dataset=dataset, data_dir=str(root) if root else None, download=False, **kw)


def train_cli(capsys, tmp_path: Path, *args) -> tuple[int, str]:
    """``maskaae train ARGS`` with a throw-away run folder; (exit code, stderr)."""
    out = Path(tempfile.mkdtemp(dir=tmp_path.parent)) / "run"  # outside any image folder
    code, _, err = run_cli(capsys, "train", *args, "--out", out, "--no-progress")
    return code, err


def one_error_line(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def offline(monkeypatch):
    """No network: every URL open fails as it does without a connection."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ----------------------------------------------------------------------------- data folder
def test_default_data_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MASKAAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "maskaae" / "data"
    monkeypatch.setenv("MASKAAE_DATA", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
    assert data_dir(cfg_for("mnist", tmp_path / "given")) == tmp_path / "given"


# ----------------------------------------------------------------------- MNIST-format sets
@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_sets_load_split_and_scale(tmp_path, dataset, folder):
    write_idx_set(tmp_path, folder, n_train=60, n_test=20)
    train, val, test = load_splits(cfg_for(dataset, tmp_path))
    assert (len(train), len(val), len(test)) == (54, 6, 20)
    assert train.dtype == torch.uint8 and train.shape[1:] == (1, 28, 28)
    assert torch.equal(test[:, 0], torch.from_numpy(digits(20, 1)))  # pixels as written
    dm = MaskAAEDataModule(cfg_for(dataset, tmp_path), batch_size=4, n_critic=1, steps=2)
    batch = next(iter(dm.train_dataloader())) if dm.setup() is None else None
    assert batch.dtype == torch.float32 and batch.shape == (8, 1, 28, 28)
    assert batch.min() == 0.0 and batch.max() == 1.0
    assert dm.data_shape == (1, 28, 28)


def test_validation_split_is_deterministic(tmp_path):
    write_idx_set(tmp_path)
    a = load_splits(cfg_for("mnist", tmp_path))
    b = load_splits(cfg_for("mnist", tmp_path))
    c = load_splits(cfg_for("mnist", tmp_path, split_seed=1))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[1], c[1])
    # train and validation partition the official training file
    full = torch.cat([a[0], a[1]]).flatten(1)
    assert sorted(map(bytes, full.numpy())) == sorted(map(bytes, digits(60, 0).reshape(60, -1)))


def test_plain_idx_files_next_to_gz_are_read(tmp_path):
    raw = write_idx_set(tmp_path)
    for gz in raw.glob("*.gz"):  # what torchvision leaves after its download: both forms
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert len(load_splits(cfg_for("mnist", tmp_path))[2]) == 20


def test_idx_path_single_file_three_way_split(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(digits(100, 3))))
    train, val, test = load_splits(cfg_for(f"idx:{tmp_path}"))
    assert (len(train), len(val), len(test)) == (81, 9, 10)
    again = load_splits(cfg_for(f"idx:{path}"))
    assert torch.equal(test, again[2])


# ------------------------------------------------------------------------------- CIFAR-10
def test_cifar10_pickle_batches(tmp_path):
    folder = write_cifar(tmp_path, per_batch=10, n_test=8)
    train, val, test = load_splits(cfg_for("cifar10", tmp_path))
    assert (len(train), len(val), len(test)) == (45, 5, 8)
    assert train.shape[1:] == (3, 32, 32) and train.dtype == torch.uint8
    import pickle

    with (folder / "test_batch").open("rb") as f:
        written = pickle.load(f)["data"]  # our own fixture file
    assert torch.equal(test, torch.from_numpy(written).view(-1, 3, 32, 32))


def test_cifar_pickle_with_code_is_refused(tmp_path, capsys):
    import pickle

    folder = write_cifar(tmp_path)
    marker = tmp_path / "code-was-run"
    (folder / "data_batch_3").write_bytes(pickle.dumps(Payload(marker)))
    code, err = train_cli(capsys, tmp_path, "--dataset", "cifar10", "--data-dir", tmp_path, "--no-download")
    one_error_line(code, err, "data_batch_3", "delete it")
    assert not marker.exists()  # refused before its code ran


# --------------------------------------------------------------------------------- CelebA
def test_celeba_official_partition_and_centre_crop(tmp_path):
    write_celeba(tmp_path, n=12)
    train, val, test = load_splits(cfg_for("celeba", tmp_path))
    assert (len(train), len(val), len(test)) == (6, 3, 3)
    assert train.shape[1:] == (3, 64, 64)
    # the 140 crop lies inside the green 150 square: no red border anywhere
    img = train[0].int()
    assert img[1].min() > 200 and img[0].max() < 60
    cache = tmp_path / "celeba" / "celeba-crop140-64px.pt"
    assert cache.is_file()
    assert torch.equal(torch.load(cache, weights_only=True)["images"][:6], train)
    # a wider crop takes in the red border
    wide = load_splits(cfg_for("celeba", tmp_path, celeba_crop=178))[0][0].int()
    assert wide[0, 0, 0] > 200 and wide[0, 32, 32] < 60


def test_celeba_zip_without_partition(tmp_path):
    import zipfile

    src = write_celeba(tmp_path / "src", n=10, partition=False) / "img_align_celeba"
    with zipfile.ZipFile(tmp_path / "img_align_celeba.zip", "w") as zf:
        for p in sorted(src.iterdir()):
            zf.write(p, f"img_align_celeba/{p.name}")
    train, val, test = load_splits(cfg_for("celeba", tmp_path, image_size=32))
    assert (len(train), len(val), len(test)) == (8, 1, 1)
    assert train.shape[1:] == (3, 32, 32)


def test_celeba_cache_is_rebuilt_when_images_change(tmp_path):
    folder = write_celeba(tmp_path, n=8)
    load_splits(cfg_for("celeba", tmp_path))
    face((0, 0, 255), (0, 0, 255)).save(folder / "img_align_celeba" / "000009.jpg")
    with (folder / "list_eval_partition.txt").open("a") as f:
        f.write("000009.jpg 2\n")
    test = load_splits(cfg_for("celeba", tmp_path))[2]
    assert len(test) == 3 and test[-1, 2].min() > 200  # the new blue face is in


# ------------------------------------------------------------------------- folder:PATH
def test_folder_of_mixed_images(tmp_path):
    write_image_folder(tmp_path, n=12)
    cfg = cfg_for(f"folder:{tmp_path}", image_size=16)
    train, val, test = load_splits(cfg)
    assert (len(train), len(val), len(test)) == (10, 1, 1)
    assert train.shape[1:] == (3, 16, 16)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), load_splits(cfg), strict=True))


def test_grey_folder_stays_grey(tmp_path):
    write_image_folder(tmp_path, n=6, grey=True)
    train, _, _ = load_splits(cfg_for(f"folder:{tmp_path}"))
    assert train.shape[1:] == (1, 64, 64)


# ---------------------------------------------------------------------------- conv nets
@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64), (1, 32, 32)])
def test_conv_nets_shapes(shape):
    from maskaae_cli.nets.conv import build_conv_nets

    enc, dec = build_conv_nets(shape, 7, 8)
    x = torch.rand(5, *shape)
    z = enc(x)
    y = dec(z)
    assert z.shape == (5, 7) and y.shape == (5, *shape)
    assert 0 < y.min() and y.max() < 1


def test_conv_nets_refuse_other_sizes():
    from maskaae_cli.nets.conv import build_conv_nets

    with pytest.raises(UserError, match="32x32 or 64x64"):
        build_conv_nets((1, 28, 28), 4, 8)


# -------------------------------------------------------------------- errors, via the CLI
def test_missing_mnist_without_download(tmp_path, capsys):
    code, err = train_cli(capsys, tmp_path, "--dataset", "mnist", "--data-dir", tmp_path, "--no-download")
    one_error_line(code, err, "train-images-idx3-ubyte.gz", str(tmp_path / "MNIST" / "raw"), "https://")


def test_failed_data_load_leaves_no_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", tmp_path / "data",
                           "--no-download", "--out", out, "--no-progress")
    assert code == 2 and not out.exists()  # so the same command works once the data is there


def test_missing_fashion_offline(tmp_path, capsys, offline):
    code, err = train_cli(capsys, tmp_path, "--dataset", "fashion-mnist", "--data-dir", tmp_path)
    one_error_line(code, err, "could not download Fashion-MNIST", "t10k-images-idx3-ubyte.gz",
                   str(tmp_path / "FashionMNIST" / "raw"), "http")


def test_missing_cifar_offline_and_without_download(tmp_path, capsys, offline):
    code, err = train_cli(capsys, tmp_path, "--dataset", "cifar10", "--data-dir", tmp_path)
    one_error_line(code, err, "could not download CIFAR-10", "cifar-10-python.tar.gz", str(tmp_path))
    code, err = train_cli(capsys, tmp_path, "--dataset", "cifar10", "--data-dir", tmp_path, "--no-download")
    one_error_line(code, err, "cifar-10-python.tar.gz", "cifar-10-batches-py/",
                   f"{tmp_path / 'cifar10'}/train/<class>/*.png", "--download")


def test_missing_celeba(tmp_path, capsys, offline):
    for flag in ("--download", "--no-download"):
        code, err = train_cli(capsys, tmp_path, "--dataset", "celeba", "--data-dir", tmp_path, flag)
        one_error_line(code, err, "img_align_celeba.zip", str(tmp_path / "celeba"), "CelebA.html")


def test_truncated_gz(tmp_path, capsys):
    raw = write_idx_set(tmp_path)
    gz = raw / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:200])
    code, err = train_cli(capsys, tmp_path, "--dataset", "mnist", "--data-dir", tmp_path)
    one_error_line(code, err, str(gz), "delete it")


def test_truncated_cifar_batch(tmp_path, capsys):
    folder = write_cifar(tmp_path)
    batch = folder / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:500])
    code, err = train_cli(capsys, tmp_path, "--dataset", "cifar10", "--data-dir", tmp_path)
    one_error_line(code, err, str(batch), "delete it")


def test_unknown_dataset(tmp_path, capsys):
    code, err = train_cli(capsys, tmp_path, "--dataset", "imagenet")
    one_error_line(code, err, "imagenet", "folder:PATH")


def test_empty_and_missing_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = train_cli(capsys, tmp_path, "--dataset", f"folder:{tmp_path / 'empty'}")
    one_error_line(code, err, "no images in", str(tmp_path / "empty"))
    code, err = train_cli(capsys, tmp_path, "--dataset", f"folder:{tmp_path / 'nope'}")
    one_error_line(code, err, "does not exist")


def test_unreadable_image_is_named(tmp_path, capsys):
    write_image_folder(tmp_path, n=4)
    bad = tmp_path / "sub" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    code, err = train_cli(capsys, tmp_path, "--dataset", f"folder:{tmp_path}")
    one_error_line(code, err, str(bad))
    truncated = tmp_path / "cut.jpg"
    buf = tmp_path / "whole.jpg"
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(buf)
    truncated.write_bytes(buf.read_bytes()[:300])
    bad.unlink()
    code, err = train_cli(capsys, tmp_path, "--dataset", f"folder:{tmp_path}")
    one_error_line(code, err, str(truncated))


# ------------------------------------------------------------------ whole path: training
def tiny_recipe(path: Path, **model) -> str:
    path.write_text(yaml.safe_dump({
        "model": {"m": 4, "hidden": 16, "depth": 1, "critic_hidden": 8, "critic_depth": 1,
                  "conv_channels": 4, **model},
        "optim": {"batch_size": 4, "n_critic": 1, "schedule_period": 2},
        "train": {"eval_every": 2, "log_every": 1, "ckpt_every": 2, "eval_samples": 16, "threads": 1},
    }))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mnist", "folder"])
def test_cli_trains_on_images(tmp_path, capsys, kind):
    if kind == "mnist":
        write_idx_set(tmp_path / "data", n_train=40, n_test=8)
        data = ["--dataset", "mnist", "--data-dir", tmp_path / "data", "--no-download"]
    else:
        write_image_folder(tmp_path / "imgs", n=10)
        data = ["--dataset", f"folder:{tmp_path / 'imgs'}", "--image-size", "32"]
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *data, "--recipe", tiny_recipe(tmp_path / "r.yaml"),
                           "--max-steps", "3", "--out", out, "--no-progress")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and 0 <= summary["active_dims"] <= 4
    assert np.isfinite(summary["test_reconstruction"])
    ckpt = torch.load(out / "model.ckpt", weights_only=False, map_location="cpu")
    conv = any("features" in k for k in ckpt["state_dict"])
    assert conv == (kind == "folder")  # 3-channel 32x32 images get the conv nets


@pytest.mark.slow
def test_real_process_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "maskaae_cli", "train", "--dataset", "cifar10",
                             "--data-dir", str(tmp_path), "--no-download", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    one_error_line(2, result.stderr, "cifar-10-python.tar.gz", f"{tmp_path / 'cifar10'}/test/<class>/")


def test_benchmark_quick_path(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import mnist_mask

    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(digits(50, 5))))
    args = argparse.Namespace(steps=2, m=[4], recipe="mnist-cpu", data=tmp_path, threads=1,
                              out=tmp_path / "results", runs=tmp_path / "runs")
    report = mnist_mask.run(args)
    assert report["split"] == {"train": 41, "validation": 4, "held_out": 5, "seed": 0}
    (result,) = report["runs"]
    assert result["m"] == 4 and result["steps"] == 2 and 0 <= result["active_dims"] <= 4
    assert 0 < result["heldout_mse"] < 1
    assert json.loads((tmp_path / "results" / "mnist_mask.json").read_text()) == report
    with Image.open(tmp_path / "results" / "mnist_mask_m4_samples.png") as grid:
        assert grid.size == (10 * 28 + 11 * 2, 10 * 28 + 11 * 2)  # a 10 x 10 grid, 2 px padding
