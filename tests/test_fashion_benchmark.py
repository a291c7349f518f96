"""The Fashion-MNIST Figure 4c benchmark's own parts: its classifier from the four IDX files, its
verdicts, and a grid that resumes from its records (tiny IDX files written here, no real data)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fashion_fig4  # noqa: E402
from fig4_common import Study, recipe_digest, wanted_runs  # noqa: E402


def write_fashion(folder: Path, n_train: int = 40, n_test: int = 20) -> None:
    """Fashion-MNIST's four IDX files, random 28x28 images: the training pair gzipped, the test pair not."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for split, n, gz in (("train", n_train, True), ("t10k", n_test, False)):
        images = b"\x00\x00\x08\x03" + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
        images += rng.integers(0, 256, n * 784, np.uint8).tobytes()
        labels = b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + (np.arange(n) % 10).astype(np.uint8).tobytes()
        for name, raw in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)


def test_classifier_trains_on_the_training_files_and_is_reused(tmp_path, monkeypatch):
    write_fashion(tmp_path / "data" / "FashionMNIST" / "raw")
    folder = fashion_fig4.data_folder(tmp_path / "data")  # torchvision's layout is found
    assert folder == tmp_path / "data" / "FashionMNIST" / "raw"
    record = fashion_fig4.prepare(folder, tmp_path / "eval", epochs=1)
    assert (record["train_images"], record["test_images"]) == (40, 20)
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert set(record["source"]) == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
    script = torch.jit.load(str(tmp_path / "eval" / "fashion_features.pt"))
    assert script(torch.rand(3, 1, 28, 28)).shape == (3, 128)
    monkeypatch.setattr(fashion_fig4, "train_classifier", lambda *a: (_ for _ in ()).throw(AssertionError))
    assert fashion_fig4.prepare(folder, tmp_path / "eval", epochs=1) == record  # not trained again


def row(model: str, m: int, fd: float, active: int | None = None, minutes: float = 10.0) -> dict:
    return {"name": f"{model}-m{m}-s0", "model": model, "m": m, "seed": 0, "frechet_classifier": fd,
            "active_dims": m if active is None else active, "wall_seconds": 60 * minutes}


def test_verdicts_take_the_mle_band_and_compare_with_wae_at_64():
    from mnist_fig4 import verdicts

    rows = [row("wae", 4, 200.0), row("wae", 16, 90.0), row("wae", 32, 80.0), row("wae", 64, 120.0),
            row("maae", 32, 100.0, 25), row("maae", 64, 85.0, 41, minutes=31)]
    checks = {c["target"]: c["met"] for c in verdicts(rows, mle=20.0, better_at=(64,))}
    assert checks["WAE's curve is U-shaped: its minimum at an interior m"]
    assert checks["WAE at m = 64 is at least 1.3x its minimum"]
    assert not checks["MaskAAE m = 32 (seed 0) within 1.15x of WAE's minimum"]
    assert checks["MaskAAE m = 64 (seed 0) within 1.15x of WAE's minimum"]
    assert checks["MaskAAE m = 32 (seed 0) keeps 9-16 dimensions or 0.5x-2.0x the MLE estimate (20.0)"]
    assert not checks["MaskAAE m = 64 (seed 0) keeps 9-16 dimensions or 0.5x-2.0x the MLE estimate (20.0)"]
    assert checks["MaskAAE better than WAE at m = 64 (seed 0)"]
    assert "MaskAAE better than WAE at m = 32 (seed 0)" not in checks
    assert not checks["every run under 30 minutes"]
    assert verdicts([row("maae", 64, 85.0, 12)], mle=20.0)[0]["met"] is False  # no WAE run: not judged


def test_the_grid_resumes_from_records_of_the_same_classifier_and_steps(tmp_path, monkeypatch):
    """main() trains nothing where every run has a record for this classifier and these steps, and
    writes the report and figure from the records; a smoke run's records (--max-steps) never stand in
    for the preset's runs."""
    write_fashion(tmp_path / "data")
    work, results = tmp_path / "work", tmp_path / "results" / "fashion-fig4"
    sha = fashion_fig4.prepare(tmp_path / "data", work / "eval", epochs=1)["file_sha256"]
    (results / "runs").mkdir(parents=True)
    for spec, fd in zip(wanted_runs(("wae", "maae"), "4,16", ""), (9.0, 10.0, 8.0, 12.0), strict=True):
        record = row(spec.model, spec.m, fd, 12 if spec.model == "maae" else None)
        record |= {"classifier_sha256": sha, "recipe": "fashion-mnist-cpu", "max_steps": 50,
                   "recipe_sha256": recipe_digest("fashion-mnist-cpu", spec.model)}
        (results / "runs" / f"{spec.name}.json").write_text(json.dumps(record))
    mle = {"estimator": "mle", "k": 20, "dimension": 14.0}
    (results / "dims.json").write_text(json.dumps({"estimates": [mle]}))
    trained = []
    monkeypatch.setattr(Study, "train", lambda self, spec: trained.append(spec.name))
    argv = ["fashion_fig4.py", "--data", str(tmp_path / "data"), "--workdir", str(work),
            "--results", str(results), "--m", "4,16", "--seed1-m", "", "--epochs", "1", "--jobs", "1"]
    monkeypatch.setattr(sys, "argv", [*argv, "--max-steps", "50"])
    fashion_fig4.main()
    assert trained == []
    report = json.loads((tmp_path / "results" / "fashion-fig4.json").read_text())
    assert [r["name"] for r in report["runs"]] == ["maae-m4-s0", "maae-m16-s0", "wae-m4-s0", "wae-m16-s0"]
    assert report["missing_runs"] == [] and report["command"].startswith("fashion_fig4.py --data FASHION_DIR")
    assert any("MLE estimate (14.0)" in c["target"] for c in report["targets"])
    assert (tmp_path / "results" / "fashion-fig4.png").is_file()
    monkeypatch.setattr(sys, "argv", argv)  # the preset's steps: every run is trained (here: nothing appears)
    fashion_fig4.main()
    assert sorted(trained) == ["maae-m16-s0", "maae-m4-s0", "wae-m16-s0", "wae-m4-s0"]
    assert json.loads((tmp_path / "results" / "fashion-fig4.json").read_text())["runs"] == []
