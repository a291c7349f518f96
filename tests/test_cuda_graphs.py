"""--cuda-graphs: the option, when it applies, and training through the graph-safe iteration in a
Trainer (on the CPU the body runs eagerly: the capture itself needs a GPU, benchmarks/gpu_check.sh)."""

import csv
import io
import json

import lightning as L
import pytest
import torch
from cli_support import run_cli
from helpers import tiny_config
from rich.console import Console

import maskaae_cli.training
from maskaae_cli.checkpoint import load_checkpoint_dict
from maskaae_cli.config import Config
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.data.loading import as_float
from maskaae_cli.errors import UserError
from maskaae_cli.graph_policy import configure_cuda_graphs, eager_reason, enable_graphs
from maskaae_cli.graphed_step import prepare_optimizers, restore_plain_optimizers
from maskaae_cli.resume import find_resume_point, resume_config
from maskaae_cli.training import build, make_trainer, train


@pytest.fixture
def said(monkeypatch):
    """What training prints (the preset line and the CUDA-graphs line)."""
    buffer = io.StringIO()
    monkeypatch.setattr(maskaae_cli.training, "_console", Console(file=buffer, width=300))
    return buffer


@pytest.fixture
def graph_body(monkeypatch):
    """Runs train() through the graph-safe iteration, eagerly (what a GPU run captures)."""
    def configure(cfg, trainer, model, dm):  # noqa: ANN001, ANN202
        enable_graphs(model, dm, capture=False)
        return "graph body, run eagerly (test)"
    monkeypatch.setattr(maskaae_cli.training, "configure_cuda_graphs", configure)


def weights(run_dir):
    return load_checkpoint_dict(run_dir / "model.ckpt")["state_dict"]


def test_cuda_graphs_option_reaches_the_config(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(maskaae_cli.training, "train",
                        lambda cfg, resume=None, announce=None: seen.append(cfg) or {})
    for flag in ([], ["--cuda-graphs"], ["--no-cuda-graphs"]):
        code, _, err = run_cli(capsys, "train", "--out", tmp_path / "run", *flag)
        assert code == 0, err
    assert [cfg.train.cuda_graphs for cfg in seen] == [None, True, False]


@pytest.mark.slow
def test_a_cpu_run_asking_for_graphs_trains_eagerly_says_why_and_changes_nothing(tmp_path, said):
    """The eager path with and without the option: the same weights, logs and mask history."""
    runs = {}
    for name, asked in (("default", None), ("off", False), ("on", True)):
        train(tiny_config(tmp_path / name, train={"cuda_graphs": asked}), announce=f"preset for {name}")
        runs[name] = tmp_path / name
    lines = [line for line in said.getvalue().splitlines() if not line.startswith("threads ")]
    assert lines == ["preset for default", "preset for off", "preset for on",
                     "training eagerly: CUDA graphs need a CUDA GPU"]
    for name in ("off", "on"):
        for (key, a), b in zip(weights(runs["default"]).items(), weights(runs[name]).values(), strict=True):
            assert torch.equal(a, b), (name, key)
        for file in ("metrics.csv", "mask_history.csv"):
            assert (runs[name] / file).read_text() == (runs["default"] / file).read_text()
        summary = json.loads((runs[name] / "summary.json").read_text())
        assert summary["cuda_graphs"] is False and "cuda_graph_captures" not in summary


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"cuda": False}, "need a CUDA GPU"),
    ({"single_device": False}, "one GPU"),
    ({"precision": "bf16-mixed"}, "--precision bf16-mixed"),
    ({"precision": "16-mixed"}, "--precision 16-mixed"),
    ({"compiled": True}, "--compile"),
    ({"plain_steps": False}, "per-step hooks"),
    ({"data_bytes": 6 * 2**30, "free_bytes": 10 * 2**30}, "6.0 GiB"),
])
def test_each_reason_to_train_eagerly_is_named(kwargs, needle):
    base = {"cuda": True, "single_device": True, "precision": "32-true", "compiled": False,
            "plain_steps": True, "data_bytes": 2**30, "free_bytes": 10 * 2**30}
    assert eager_reason(**base) is None
    reason = eager_reason(**{**base, **kwargs})
    assert reason is not None and needle in reason and "\n" not in reason


def test_the_default_says_nothing_and_graphs_off_say_nothing(tmp_path):
    for asked in (None, False):
        cfg = tiny_config(tmp_path / "run", train={"cuda_graphs": asked, "accelerator": "cpu"})
        dm, model = build(cfg)
        trainer = make_trainer(cfg, model, tmp_path / "run", [])
        assert configure_cuda_graphs(cfg, trainer, model, dm) is None
        assert model.cuda_graphs == "off" and not dm.index_batches


def test_bad_cuda_graphs_values_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="train.cuda_graphs must be true or false"):
        Config.from_dict({"train": {"cuda_graphs": "sometimes"}})
    cfg = tiny_config(tmp_path)
    cfg.train.cuda_graphs = "yes"  # type: ignore[assignment]  # set from code, not from a recipe
    with pytest.raises(UserError, match="--cuda-graphs 'yes'"):
        cfg.validate()


def test_index_batches_name_the_rows_the_eager_loader_serves(tmp_path):
    cfg = tiny_config(tmp_path)
    loaders = []
    for indices in (False, True):
        torch.manual_seed(5)
        dm = MaskAAEDataModule(cfg.data, cfg.optim.batch_size, cfg.optim.n_critic, steps=4)
        dm.setup()
        dm.index_batches = indices
        loaders.append((dm, list(dm.train_dataloader())))
    (dm, rows), (_, indices) = loaders
    assert len(rows) == len(indices) == 4
    for batch, idx in zip(rows, indices, strict=True):
        assert idx.dtype == torch.long and torch.equal(as_float(dm.train_data[idx]), batch)


def test_graphed_training_counts_every_step_and_logs_what_eager_logs(tmp_path, graph_body, said):
    summary = train(tiny_config(tmp_path / "graphed", train={"max_steps": 12, "log_every": 3}))
    lines = [line for line in said.getvalue().splitlines() if not line.startswith("threads ")]
    assert lines == ["graph body, run eagerly (test)"]
    assert summary is not None and summary["steps"] == 12 and summary["cuda_graph_captures"] == 0
    ckpt = load_checkpoint_dict(tmp_path / "graphed" / "model.ckpt")
    assert ckpt["global_step"] == 12 * (2 + 3)  # n_critic 2 + 3 steps: Lightning counted them all
    eager = tiny_config(tmp_path / "eager", train={"max_steps": 12, "log_every": 3})
    train(eager)
    headers = [next(csv.reader((tmp_path / r / "metrics.csv").open())) for r in ("graphed", "eager")]
    assert headers[0] == headers[1]
    rows = [r for r in csv.DictReader((tmp_path / "graphed" / "metrics.csv").open()) if r.get("loss/mask")]
    assert len(rows) == 4  # iterations 3, 6, 9, 12
    assert all(float(r["lr/ae"]) > 0 and float(r["mask/reg_weight"]) > 0 for r in rows)


@pytest.mark.slow
def test_a_checkpoint_with_tensor_learning_rates_saves_and_resumes(tmp_path, graph_body, monkeypatch):
    run = tmp_path / "run"
    drop = {"lr_drop_periods": 2}  # the auto-encoder's rate drops at iteration 10, as the run resumes
    train(tiny_config(run, optim=drop, train={"max_steps": 10, "ckpt_every": 5}))
    saved = load_checkpoint_dict(run / "checkpoints" / "last.ckpt")
    groups = [o["param_groups"][0] for o in saved["optimizer_states"]]
    assert all(isinstance(g["lr"], torch.Tensor) and g["foreach"] for g in groups)
    point = find_resume_point(run)
    assert point.iteration == 10
    train(resume_config(point, {"train": {"max_steps": 15}}), resume=point)  # graphed again
    resumed = load_checkpoint_dict(run / "model.ckpt")
    assert resumed["global_step"] == 15 * 5
    steps = [float(s["step"]) for s in resumed["optimizer_states"][0]["state"].values()]
    assert steps and set(steps) == {15.0}  # the optimiser state carried on: 10 + 5 steps
    lr = resumed["optimizer_states"][0]["param_groups"][0]["lr"]
    assert isinstance(lr, torch.Tensor) and float(lr) == pytest.approx(5e-4 / 5)  # written after resuming

    monkeypatch.undo()  # now eagerly, from the graphed run's checkpoint
    point = find_resume_point(run)
    train(resume_config(point, {"train": {"max_steps": 20}}), resume=point)
    final = load_checkpoint_dict(run / "model.ckpt")
    groups = [o["param_groups"][0] for o in final["optimizer_states"]]
    assert all(isinstance(g["lr"], float) and not g["capturable"] and g["foreach"] is None for g in groups)
    assert {float(s["step"]) for s in final["optimizer_states"][0]["state"].values()} == {20.0}


def test_plain_optimisers_stay_untouched_and_prepared_ones_come_back(tmp_path):
    cfg = tiny_config(tmp_path)
    L.seed_everything(0, verbose=False)
    _, model = build(cfg)
    opts = model.configure_optimizers()
    x = torch.randn(16, 16)
    for opt in opts[:1]:
        opt.zero_grad()
        model.reconstruct(x).pow(2).mean().backward()
        opt.step()
    plain = [flat(o.state_dict()) for o in opts]
    assert isinstance(plain[0]["param_groups.0.lr"], float) and plain[0]["state.0.step"][0] == "cpu"
    restore_plain_optimizers(opts, model.base_rates())
    assert [flat(o.state_dict()) for o in opts] == plain
    prepare_optimizers(opts, capturable=False)
    assert all(isinstance(o.param_groups[0]["lr"], torch.Tensor) for o in opts)
    restore_plain_optimizers(opts, model.base_rates())
    assert [flat(o.state_dict()) for o in opts] == plain


def flat(tree, prefix=""):
    """A state dict as {path: value}, tensors as (device, dtype, values) so that == compares them."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flat(sub, f"{prefix}{i}.").items()}
    if isinstance(tree, torch.Tensor):
        return {prefix[:-1]: (tree.device.type, tree.dtype, tree.tolist())}
    return {prefix[:-1]: tree}


def test_resume_takes_the_cuda_graphs_option(tmp_path):
    train(tiny_config(tmp_path / "run", train={"max_steps": 4}))
    point = find_resume_point(tmp_path / "run")
    cfg = resume_config(point, {"train": {"max_steps": 6, "cuda_graphs": True}})
    assert cfg.train.cuda_graphs is True


def test_the_gpu_check_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/cuda_graphs.py (gpu_check.sh graphs), tiny and on the CPU: every part runs and writes."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import cuda_graphs

    out = tmp_path / "graphs.json"
    cuda_graphs.main(["--device", "cpu", "--tiny", "--case", "synthetic", "--iterations", "3",
                      "--diff-iterations", "3", "--same-seed-iterations", "2", "--out", str(out)])
    modes = json.loads(out.read_text())["cases"]["synthetic"]["modes"]
    assert set(modes) == {"eager", "critic", "iteration"}
    for name, r in modes.items():
        assert r["it_per_s"] > 0 and r["same_seed_identical"] is True, name
        assert name == "eager" or r["update_gap_1"] < 1e-6, name  # nothing captured on a CPU: the body
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"steps": 3, "steps_per_second": 1.5, "cuda_graphs": True}))
    cuda_graphs.main(["--out", str(out), "--add-e2e", f"graphs={summary}", "--add-e2e", "eager=missing.json"])
    e2e = json.loads(out.read_text())["end_to_end"]
    assert e2e["graphs"]["steps_per_second"] == 1.5 and "missing" in e2e["eager"]
