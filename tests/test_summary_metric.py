"""summary.json's Frechet distance is the number `maskaae fid` gives for the same run and seed."""

import json

import pytest
from cli_support import run_cli


def test_summary_frechet_matches_fid_command(trained_run, capsys):
    summary = json.loads((trained_run / "summary.json").read_text())
    args = ["fid", trained_run, "--n", "128", "--seed", str(summary["seed"]), "--json"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    # bit-for-bit on the CPU; on a GPU the generator's batches differ in size (other kernels), ~1e-9
    assert json.loads(out)["fid"] == pytest.approx(summary["frechet_distance"], rel=1e-7)
