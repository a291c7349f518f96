"""Loggers: W&B offline and TensorBoard get every loss, the active dimensions, one curve per
alpha_j, mask heatmaps and the config; metrics.csv is continued, not replaced, on resume."""

import csv
import json

import pytest
from helpers import tiny_config
from wandb_records import history, run_info

from maskaae_cli.loggers import _KeepingWriter
from maskaae_cli.training import train

SMALL = {"max_steps": 10, "log_every": 2, "eval_every": 5}


@pytest.mark.slow
def test_wandb_offline_run_holds_active_dims_and_alpha_series(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    train(tiny_config(out, train={**SMALL, "logger": "wandb", "wandb_project": "maskaae-test",
                                  "run_name": "tiny", "tags": "ci,cpu"}))
    record = json.loads((out / "logger.json").read_text())
    logs = list((out / "wandb").glob(f"offline-run-*-{record['wandb_id']}/run-{record['wandb_id']}.wandb"))
    assert len(logs) == 1, list((out / "wandb").iterdir())
    rows = history(logs[0])

    def series(key):
        return [(r["trainer/global_step"], r[key]) for r in rows if key in r]

    steps = [1, 3, 5, 7, 9]  # Lightning's 0-based step of every second iteration
    assert [s for s, _ in series("active_dims")] == steps
    summary = json.loads((out / "summary.json").read_text())
    for j in range(6):
        curve = series(f"alpha/{j:02d}")
        assert [s for s, _ in curve] == steps
        assert abs(curve[-1][1] - summary["alpha"][j]) < 1e-5  # the last point is the final mask
        assert all(0 <= a < 1 for _, a in curve)
    assert series("active_dims")[-1][1] == summary["active_dims"]
    for key in ("loss/rec", "loss/var", "loss/critic", "loss/gen", "loss/mask", "mask/reg_weight",
                "lr/ae", "lr/mask", "val/rec", "val/frechet"):
        assert series(key), key
    heatmaps = [r for r in rows if "mask/heatmap/_type" in r]
    assert len(heatmaps) == 2 and all(r["mask/heatmap/_type"] == "images/separated" for r in heatmaps)
    info = run_info(logs[0])
    assert info["id"] == record["wandb_id"] and info["project"] == "maskaae-test"
    assert info["tags"] == ["ci", "cpu"] and info["name"] == "tiny"
    assert info["config"]["config"]["model"]["m"] == 6  # the run's config


def test_tensorboard_gets_alpha_curves_and_the_heatmap(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    train(tiny_config(out, train={**SMALL, "logger": "tensorboard"}))
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {f"alpha/{j:02d}" for j in range(6)} <= set(tags["scalars"])
    assert {"active_dims", "loss/mask", "val/rec", "val/frechet"} <= set(tags["scalars"])
    assert [e.step for e in events.Scalars("alpha/03")] == [1, 3, 5, 7, 9]
    assert tags["images"] == ["mask/heatmap"]
    assert (out / "metrics.csv").is_file()  # the CSV log is kept whatever the logger


def test_metrics_csv_is_continued_from_the_resumed_step(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("loss,step,val\n1.0,4,\n0.9,9,\n,9,0.5\n0.8,14,\n")  # 14: after the checkpoint
    writer = _KeepingWriter(str(tmp_path), resume_step=10)
    writer.log_metrics({"loss": 0.7, "lr": 0.1}, step=10)  # a new column, too
    writer.save()
    rows = list(csv.DictReader(path.open()))
    assert [(r["step"], r["loss"], r["val"], r["lr"]) for r in rows] == [
        ("4", "1.0", "", ""), ("9", "0.9", "", ""), ("9", "", "0.5", ""), ("10", "0.7", "", "0.1")]


@pytest.mark.slow
def test_image_runs_log_a_sample_grid_and_the_traversal(tmp_path):
    from image_fixtures import write_idx_set
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    write_idx_set(tmp_path / "data")
    out = tmp_path / "run"
    cfg = tiny_config(out, data={"dataset": "mnist", "data_dir": str(tmp_path / "data"), "download": False},
                      model={"arch": "mlp", "m": 4}, train={**SMALL, "logger": "tensorboard"})
    train(cfg)
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == ["mask/heatmap", "samples", "traverse"]
    grid = events.Images("samples")[-1]
    assert grid.step == 9 and grid.width > 28 * 8 and grid.height > 28 * 8  # 64 samples, 8 x 8
    active = json.loads((out / "summary.json").read_text())["active_dims"]
    traversal = events.Images("traverse")[-1]  # one row per active dimension, 9 columns, 28 px drawn at 56
    assert [e.step for e in events.Images("traverse")] == [4, 9]
    assert traversal.width >= 9 * 56 and active * 56 <= traversal.height < (active + 3) * 60
