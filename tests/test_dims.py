"""`maskaae dims`: intrinsic-dimension estimates (MLE at several k, TwoNN) beside a run's mask count."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_support import assert_one_line_error, run_cli

from maskaae_cli.intrinsic_dim import estimate

# Tolerance, from measurement: on the default synthetic data (d = 128) with -n 2000, 60 draws (data
# seeds 0-2 x sample seeds 0-19) put every estimate within 11% of n: the largest misses were +0.38 at
# n = 4 and +0.87 at n = 8 (both TwoNN; MLE at most +0.29 and +0.49). 15% of n leaves room for that
# spread and still fails an estimate one dimension off at n = 8 and 0.6 off at n = 4.
TOLERANCE = 0.15


@pytest.mark.slow
@pytest.mark.parametrize("n_true", [4, 8])
def test_estimates_on_synthetic_data_are_near_the_true_dimension(n_true, capsys):
    code, out, err = run_cli(capsys, "dims", "synthetic", "--n-true", n_true, "-n", 2000, "--json",
                             "--threads", 1, "--no-progress")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["n"] == rec["n_used"] == 2000 and rec["features"] == 128 and rec["n_true"] == n_true
    assert [(e["estimator"], e["k"]) for e in rec["estimates"]] == [
        ("mle", 5), ("mle", 10), ("mle", 20), ("twonn", None)]
    for e in rec["estimates"]:
        assert abs(e["dimension"] - n_true) <= TOLERANCE * n_true, e
    assert rec["run"] is None and "neither is picked" in rec["note"]


def test_shared_neighbour_search_gives_skdims_own_figures():
    import skdim

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 30))  # a 3-d subspace of R^30
    ours = {(e.estimator, e.k): e.dimension for e in estimate(x, [4, 9]).estimates}
    for k in (4, 9):
        assert ours[("mle", k)] == pytest.approx(skdim.id.MLE().fit(x, n_neighbors=k).dimension_, rel=1e-9)
    assert ours[("twonn", None)] == pytest.approx(skdim.id.TwoNN().fit(x).dimension_, rel=1e-9)
    assert 2.5 < ours[("mle", 9)] < 3.5


def test_exact_duplicates_are_dropped_before_estimating():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    result = estimate(np.concatenate([x, x[:40]]), [5])
    assert result.n == 340 and result.n_used == 300
    assert all(np.isfinite(e.dimension) and e.dimension > 0 for e in result.estimates)
    assert result.to_dict()["duplicates_dropped"] == 40


def test_run_folder_shows_the_masks_count_beside_the_estimates(trained_run, capsys):
    summary = json.loads((trained_run / "summary.json").read_text())
    code, out, err = run_cli(capsys, "dims", trained_run, "-n", 300, "--k", "5,10", "--json", "--threads", 1)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["run"]["active_dims"] == summary["active_dims"] and rec["run"]["m"] == 6
    assert rec["n_true"] == 2 and rec["features"] == 16  # the run's own data, not the defaults
    assert [e["k"] for e in rec["estimates"]] == [5, 10, None]
    code, out, err = run_cli(capsys, "dims", trained_run, "--k", "5", "--threads", 1)
    assert code == 0, err
    assert "MLE" in out and "TwoNN" in out and f"{summary['active_dims']} of 6 active" in out
    assert "512 samples" in out  # without -n: 10,000, or the whole split when it is smaller


@pytest.mark.parametrize(("args", "needles"), [
    (["synthetic", "-n", "60000"], ["-n 60000", "50000"]),
    (["synthetic", "-n", "20", "--k", "5,20"], ["--k 20", "smaller than n"]),
    (["synthetic", "--k", "5,x"], ["--k", "whole numbers"]),
    (["synthetic", "--k", "1,5"], ["at least 2"]),
    (["synthetic", "--k", "5,5"], ["repeated"]),
    (["no-such-data"], ["unknown dataset"]),
    (["synthetic", "-n", "2"], ["-n"]),
])
def test_bad_input_is_one_line(args, needles, capsys):
    code, _, err = run_cli(capsys, "dims", *args, "--threads", 1)
    assert_one_line_error(code, err, *needles)


def test_run_folder_refuses_data_options_and_plain_folders_are_not_runs(trained_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "dims", trained_run, "--n-true", 3)
    assert_one_line_error(code, err, "--n-true", "run folder")
    code, _, err = run_cli(capsys, "dims", trained_run, "-n", 5000)
    assert_one_line_error(code, err, "-n 5000", "512")  # the tiny run trains on 512 samples
    code, _, err = run_cli(capsys, "dims", tmp_path)
    assert_one_line_error(code, err, "not a maskaae run folder", f"folder:{tmp_path}")
