"""The training hot path skips Lightning's backward bookkeeping only where nothing needs it."""

import os

import lightning as L
import pytest
import torch
from cli_support import run_cli
from helpers import tiny_config

import maskaae_cli.training
from maskaae_cli.model import MaskAAE
from maskaae_cli.training import build, make_trainer


class CountBackwardHooks(L.Callback):
    """Observes manual_backward's hooks, so the Trainer must keep calling them."""

    def __init__(self) -> None:
        self.before = self.after = 0

    def on_before_backward(self, trainer, pl_module, loss) -> None:  # noqa: ANN001
        self.before += 1

    def on_after_backward(self, trainer, pl_module) -> None:  # noqa: ANN001
        self.after += 1


class CountOptimizerStepHooks(L.Callback):
    """Observes the before-optimizer-step hook, which only Lightning's wrapped step calls."""

    def __init__(self) -> None:
        self.calls = 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:  # noqa: ANN001
        self.calls += 1


def fit(tmp_path, callbacks=(), steps=3, **train):
    cfg = tiny_config(tmp_path / "run", train={"max_steps": steps, "eval_every": 100, **train})
    L.seed_everything(0, verbose=False)
    dm, model = build(cfg)
    trainer = make_trainer(cfg, model, tmp_path / "run", list(callbacks))
    trainer.fit(model, datamodule=dm)
    return model


def test_direct_step_gives_the_same_weights_as_manual_backward(tmp_path):
    fast = fit(tmp_path / "fast")
    hooks = CountBackwardHooks()
    slow = fit(tmp_path / "slow", [hooks])
    assert fast._direct_step and not slow._direct_step
    assert fast.iteration == slow.iteration == 3
    steps = 3 * slow.opt_steps_per_iter
    assert hooks.before == hooks.after == steps  # every backward pass went through manual_backward
    for (name, a), b in zip(fast.state_dict().items(), slow.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_direct_optimizer_step_matches_lightnings_and_counts_steps(tmp_path):
    fast = fit(tmp_path / "fast")
    hooks = CountOptimizerStepHooks()
    slow = fit(tmp_path / "slow", [hooks])
    assert fast._direct_step and not slow._direct_step
    steps = 3 * slow.opt_steps_per_iter
    assert hooks.calls == steps
    assert fast.trainer.global_step == slow.trainer.global_step == steps  # Lightning counted every step
    for (name, a), b in zip(fast.state_dict().items(), slow.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_mixed_precision_keeps_manual_backward(tmp_path):
    model = fit(tmp_path, steps=1, precision="bf16-mixed")
    assert not model._direct_step


def test_every_parameter_is_trainable_after_fitting(tmp_path):
    model = fit(tmp_path, steps=2)
    trained = [p for name, p in model.named_parameters() if not name.startswith("ema.")]
    assert trained and all(p.requires_grad for p in trained)  # the moving average is never trained


def test_cuda_check_variable_is_restored_after_a_cpu_fit(tmp_path):
    seen = {}

    class Probe(L.Callback):
        def on_train_batch_end(self, *args) -> None:  # noqa: ANN002
            seen["during"] = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")

    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    fit(tmp_path, [Probe()], steps=1, accelerator="cpu")  # on a GPU machine 'auto' would pick the GPU
    assert seen["during"] is None
    assert os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"



@pytest.mark.slow
def test_compile_keeps_checkpoint_keys_and_an_eager_penalty_critic(tmp_path):
    model = MaskAAE(tiny_config(tmp_path), (16,), is_image=False)
    keys = list(model.state_dict())
    model.compile_nets()  # compiles lazily, on the first call
    assert list(model.state_dict()) == keys
    assert model.train_iteration.gp_critic == model.critic.forward  # the double backward: the eager critic


def test_compile_option_reaches_the_config(tmp_path, capsys, monkeypatch):
    seen = []
    monkeypatch.setattr(maskaae_cli.training, "train",
                        lambda cfg, resume=None, announce=None: seen.append(cfg) or {})
    for flag in ([], ["--compile"]):
        code, _, err = run_cli(capsys, "train", "--out", tmp_path / "run", *flag)
        assert code == 0, err
    assert [cfg.train.compile for cfg in seen] == [False, True]


def test_progress_bar_reads_metrics_only_on_logging_iterations(tmp_path, monkeypatch):
    from maskaae_cli.callbacks import TrainingProgress

    reads = []
    original = TrainingProgress.get_metrics
    monkeypatch.setattr(TrainingProgress, "get_metrics",
                        lambda self, trainer, module: reads.append(module.iteration) or original(
                            self, trainer, module))
    model = fit(tmp_path, steps=20, progress=True, log_every=5)
    assert model.iteration == 20
    assert {5, 10, 15, 20} <= set(reads) and len(reads) < 20  # not after every iteration
