"""The CIFAR-10 benchmark's own parts: its classifier feature space and its verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import cifar_eval  # noqa: E402
import cifar_fig4  # noqa: E402


def write_labelled_tree(root: Path, per_class: int = 2) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(10):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_classifier_features_are_a_torchscript_feature_space_and_are_reused(tmp_path):
    write_labelled_tree(tmp_path / "data")
    record = cifar_eval.prepare(tmp_path / "data", tmp_path / "eval", epochs=1)
    assert record["train_images"] == record["test_images"] == 20 and len(record["classes"]) == 10
    assert 0.0 <= record["test_accuracy"] <= 1.0
    script = torch.jit.load(str(tmp_path / "eval" / "cifar_features.pt"))
    assert script(torch.rand(3, 3, 32, 32)).shape == (3, 256)
    again = cifar_eval.prepare(tmp_path / "data", tmp_path / "eval", epochs=1)
    assert again == record  # the same file: not trained again


def row(model: str, m: int, fd: float, active: int, seed: int = 0, minutes: float = 20.0) -> dict:
    return {"name": f"{model}-m{m}-s{seed}", "model": model, "m": m, "seed": seed, "frechet_classifier": fd,
            "active_dims": active if model == "maae" else m, "wall_seconds": 60 * minutes}


def test_verdicts_judge_collapse_and_quality():
    rows = [row("wae", 16, 10.0, 16), row("wae", 64, 11.0, 64), row("wae", 128, 12.0, 128),
            row("maae", 64, 10.5, 30), row("maae", 128, 14.0, 3, minutes=31)]
    checks = {c["target"]: c["met"] for c in cifar_fig4.verdicts(rows, mle=30.0)}
    assert checks["MaskAAE m = 64 (seed 0) within 1.1x of WAE's best (classifier features)"]
    assert checks["MaskAAE m = 64 (seed 0) keeps at least 10 dimensions (no collapse)"]
    assert not checks["MaskAAE m = 128 (seed 0) keeps at least 10 dimensions (no collapse)"]
    assert not checks["MaskAAE m = 128 (seed 0) within 0.5x-2.0x of the MLE estimate (30.0)"]
    assert not checks["MaskAAE better than WAE at m = 128"]
    assert not checks["every run within 30 minutes on one core"]


def test_maskaae_is_judged_against_wae_at_the_largest_m_seed_by_seed_and_in_the_mean():
    rows = [row("wae", 128, 12.0, 128), row("maae", 128, 11.0, 100),
            row("wae", 128, 12.0, 128, seed=1), row("maae", 128, 14.0, 100, seed=1),
            row("maae", 64, 9.0, 60, seed=2)]  # no WAE at 128 with seed 2: not compared
    checks = {c["target"]: c for c in cifar_fig4.verdicts(rows, mle=None)}
    assert checks["MaskAAE better than WAE at m = 128"]["met"]
    assert not checks["MaskAAE better than WAE at m = 128 (seed 1)"]["met"]
    mean = checks["MaskAAE better than WAE at m = 128, mean of seeds [0, 1]"]
    assert (mean["measured"], mean["met"]) == ("12.50 vs 12.00", False)
    assert not any("seed 2" in target and "better" in target for target in checks)


def test_a_recorded_run_is_not_trained_again(tmp_path, monkeypatch):
    """The grid resumes from the committed records: a run recorded in this classifier is neither
    trained nor measured again; one recorded in another classifier is."""
    import json

    from fig4_common import Study

    from maskaae_cli.sweep.plan import RunSpec

    records = tmp_path / "records"
    records.mkdir()
    done, stale = RunSpec(0, 128, "maae"), RunSpec(0, 64, "maae")
    for spec, sha in ((done, "A"), (stale, "B")):
        record = row(spec.model, spec.m, 9.0, 20) | {"classifier_sha256": sha}
        (records / f"{spec.name}.json").write_text(json.dumps(record))
    study = Study(tmp_path / "work", records, ["--dataset", "cifar10"], tmp_path / "f.pt",
                  {"classifier_sha256": "A"})
    trained = []
    monkeypatch.setattr(study, "train", lambda spec: trained.append(spec.name))
    assert study.train_and_record(done)["frechet_classifier"] == 9.0
    assert trained == []
    assert study.train_and_record(stale) is None  # no run appeared
    assert trained == [stale.name]


def test_a_record_of_an_earlier_preset_is_trained_again(tmp_path, monkeypatch):
    """A record carries the digest of what its model read of the recipe: after the preset's mask
    changes, MaskAAE's record no longer stands for it (trained again), WAE's, which has no mask, does."""
    import json

    from fig4_common import Study, recipe_digest

    from maskaae_cli.sweep.plan import RunSpec

    before = tmp_path / "before.yaml"
    before.write_text("base: cifar10-cpu\nmask:\n  var_sharpness: 10.0\n")
    after = tmp_path / "after.yaml"
    after.write_text("base: cifar10-cpu\nmask:\n  var_sharpness: 30.0\n")
    assert recipe_digest(str(before), "maae") != recipe_digest(str(after), "maae")
    assert recipe_digest(str(before), "wae") == recipe_digest(str(after), "wae")
    records = tmp_path / "records"
    records.mkdir()
    specs = RunSpec(0, 128, "maae"), RunSpec(0, 128, "wae")
    for spec in specs:
        record = row(spec.model, spec.m, 9.0, 20) | {"classifier_sha256": "A",
                                                     "recipe_sha256": recipe_digest(str(before), spec.model)}
        (records / f"{spec.name}.json").write_text(json.dumps(record))
    study = Study(tmp_path / "work", records, ["--dataset", "cifar10"], tmp_path / "f.pt",
                  {"classifier_sha256": "A"}, recipe=str(after))
    trained = []
    monkeypatch.setattr(study, "train", lambda spec: trained.append(spec.name))
    assert study.train_and_record(specs[1])["frechet_classifier"] == 9.0
    assert study.train_and_record(specs[0]) is None  # trained again (here no run appears)
    assert trained == ["maae-m128-s0"]


def test_a_recipe_that_cannot_be_read_is_one_error_line(tmp_path):
    """The grid reads its recipe once, before any run: a missing one stops it with the fix named."""
    import pytest
    from fig4_common import Study

    with pytest.raises(SystemExit) as stop:
        Study(tmp_path / "work", tmp_path / "records", [], tmp_path / "f.pt", {}, recipe="no-such-recipe")
    assert str(stop.value).startswith("error: recipe 'no-such-recipe' not found")
    assert "\n" not in str(stop.value)
