"""The graph-safe iteration (maskaae_cli/graphed_step.py), run eagerly on the CPU: the same update as
the eager step, no host sync, the same ops on every iteration of one structure."""

import copy
import importlib

import pytest
import torch
from helpers import tiny_config
from torch.utils._python_dispatch import TorchDispatchMode

from maskaae_cli.graph_runner import GraphedTraining
from maskaae_cli.graphed_step import recorded_noise
from maskaae_cli.iteration import Structure
from maskaae_cli.model import MaskAAE

# A schedule that passes every change within 20 iterations: the mask's warm-up ends (3), c ramps
# (4-12), the rates drop (6, 8), the cycle term stops (10), the mask freezes (15).
PHASES = {"optim": {"schedule": "budget", "lr_drop_fraction": 0.3},
          "mask": {"start": 3, "ramp_start_fraction": 0.2, "ramp_end_fraction": 0.6, "c_max": 64.0,
                   "lr_drop_fraction": 0.4, "cycle_weight": 0.5, "cycle_end_fraction": 0.5,
                   "freeze_fraction": 0.75},
          "train": {"max_steps": 20, "log_every": 10**6}}
SHAPES = {"vectors": (16,), "grey": (1, 8, 8), "colour": (3, 32, 32)}


def allow_capturable(monkeypatch, device):
    """Let RMSprop take its capturable path (the one a CUDA graph replays) on ``device``."""
    module = importlib.import_module("torch.optim.rmsprop")  # torch.optim.rmsprop is also a function
    devices = module._get_capturable_supported_devices
    monkeypatch.setattr(module, "_get_capturable_supported_devices",
                        lambda *a, **k: [*devices(*a, **k), device])


@pytest.fixture
def capturable_on_cpu(monkeypatch):
    allow_capturable(monkeypatch, "cpu")


def make_pair(tmp_path, kind="vectors", dtype=torch.float64, **sections):
    """An eager model and a copy of it trained through the body (scope ``scope``), and their data."""
    torch.manual_seed(0)
    shape = SHAPES[kind]
    model = {"arch": "conv", "conv_channels": 2, "m": 4} if kind == "colour" else {}
    cfg = tiny_config(tmp_path / "run", **{**PHASES, "model": model, **sections})
    eager = MaskAAE(cfg, shape, is_image=kind != "vectors").to(dtype)
    graphed = copy.deepcopy(eager)
    opts = eager.configure_optimizers()
    eager.optimizers = lambda: opts
    if kind == "vectors":
        data = torch.randn(200, *shape, dtype=dtype)
    else:
        data = torch.randint(0, 256, (200, *shape), dtype=torch.uint8)
    return eager, graphed, data


def runner(graphed, data, scope="iteration", **kw):
    return GraphedTraining(graphed, graphed.configure_optimizers(), data, capture=False, scope=scope,
                           capturable=True, **kw)


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def relative_update_gap(before, a, b):
    """|dA - dB| / |dA| over every floating tensor (weights, mask, moving average, batch-norm statistics)."""
    da = torch.cat([(a[k] - before[k]).flatten().double() for k in before])
    db = torch.cat([(b[k] - before[k]).flatten().double() for k in before])
    return ((da - db).norm() / da.norm()).item()


def as_batch(data, idx, dtype):
    from maskaae_cli.data.loading import as_float

    return as_float(data[idx]).to(dtype)


def step_both(eager, run, data, step, gen):
    """One iteration of each on the same rows and the same noise; the relative gap of their updates."""
    o = eager.cfg.optim
    idx = torch.randperm(len(data), generator=gen)[: o.batch_size * (1 + o.n_critic)]
    before = state(eager)
    with recorded_noise() as draws:
        eager.eager_iteration(as_batch(data, idx, next(eager.parameters()).dtype), step)
    run.body.load_noise(draws, run.model.train_iteration.structure_at(step))
    run.iteration(idx, step)
    return relative_update_gap(before, state(eager), state(run.model))


@pytest.mark.parametrize(("kind", "model", "scope"), [
    ("vectors", "maae", "iteration"), ("vectors", "wae", "iteration"), ("vectors", "maae", "critic"),
    ("grey", "maae", "iteration"), ("colour", "maae", "iteration")])
@pytest.mark.slow
def test_body_makes_the_eager_update(tmp_path, capturable_on_cpu, kind, model, scope):
    """Over a schedule that passes every phase, from the same weights, rows and noise, in float64:
    the same update as MaskAAE.eager_iteration (rounding only: tensor learning rates divide where
    the eager step multiplies; ~1e-13 here)."""
    eager, graphed, data = make_pair(tmp_path, kind, model={"model": model, **(
        {"arch": "conv", "conv_channels": 2, "m": 4} if kind == "colour" else {})})
    run = runner(graphed, data, scope, draw_noise=False)
    gen = torch.Generator().manual_seed(1)
    for step in range(20):
        gap = step_both(eager, run, data, step, gen)
        assert gap < 1e-10, (step, gap)
    for a, b in zip(eager.optimizers(), run.body._targets, strict=False):  # the rates as scheduled
        assert float(b) == pytest.approx(a.param_groups[0]["lr"], rel=1e-12)
    expected = [Structure(cycle=model == "maae", frozen=False)] + (
        [Structure(False, False), Structure(False, True)] if model == "maae" else [])
    assert run.structures == (expected if scope == "iteration" else [None])


def test_the_body_runs_the_models_own_iteration_and_its_values(tmp_path, capturable_on_cpu):
    """One iteration object for the eager step and the graph body; every scheduled value (the rates and
    each loss weight of StepValues) reaches the body's device tensors."""
    _, graphed, data = make_pair(tmp_path)
    run = runner(graphed, data)
    assert run.body.iteration is graphed.train_iteration
    for step in (0, 4, 12):
        values = graphed.train_iteration.values_at(step)
        run.body.set_step(step)
        assert [float(t) for t in run.body._targets] == [*values.rates, *values.weights().values()]


HOST_READS = {"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::nonzero",
              "aten::argwhere", "aten::masked_select", "aten::_unique", "aten::_unique2", "aten::unique_dim",
              "aten::unique_consecutive", "aten::equal", "aten::allclose", "aten::repeat_interleave",
              "aten::bincount"}


class OpLog(TorchDispatchMode):
    """Every aten op (name and argument shapes) and those that read a value on the host: a scalar read,
    an output whose size depends on the data, a boolean-mask index, a copy between devices."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple] = []
        self.host_reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        name = func._schema.name
        tensors = [a for a in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        self.ops.append((name, tuple(tuple(t.shape) for t in tensors)))
        masked = name.startswith("aten::index") and any(t.dtype == torch.bool for t in tensors)
        if name in HOST_READS or masked:
            self.host_reads.append(name)
        out = func(*args, **kwargs)
        outs = [t for t in torch.utils._pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        if len({t.device for t in tensors + outs}) > 1:
            self.host_reads.append(f"{name} across devices")
        return out


@pytest.fixture
def no_python_reads(monkeypatch):
    """Reads that bypass the dispatcher on a CPU tensor: tolist, numpy."""
    def refuse(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise AssertionError("the graph body read a tensor on the host")
    for name in ("tolist", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, refuse)


def warmed_runner(tmp_path, kind="vectors", **sections):
    """A runner past its first two iterations (they create the optimiser state and the moving average)."""
    _, graphed, data = make_pair(tmp_path, kind, dtype=torch.float32, **sections)
    run = runner(graphed, data)
    for step in range(2):
        run.iteration(torch.arange(len(run.body.index)), step)
    return run


def body_ops(run, step, rows):
    """The ops of iteration ``step``'s body (what a graph captures) on training rows ``rows``."""
    run.body.set_step(step)
    run.body.set_indices(rows)
    with OpLog() as log:
        run.body(run.model.train_iteration.structure_at(step))
    return log


@pytest.mark.parametrize("kind", ["vectors", "colour"])
def test_body_reads_nothing_on_the_host(tmp_path, capturable_on_cpu, no_python_reads, kind):
    run = warmed_runner(tmp_path, kind)
    n = len(run.body.index)
    for step in (4, 12, 16):  # with the cycle term, without, frozen
        with OpLog() as log:
            run.iteration(torch.randperm(200)[:n], step)  # between-iteration updates included
        assert log.ops and log.host_reads == [], (step, sorted(set(log.host_reads)))


def test_the_op_log_sees_host_reads():
    """The check above can fail: .item(), a branch on a tensor, nonzero and a mask index are seen."""
    x = torch.arange(4.0)
    with OpLog() as log:
        x.sum().item()
        bool(x[0] > 1)
        x.nonzero()
        x[x > 1]
    assert {"aten::_local_scalar_dense", "aten::nonzero"} <= set(log.host_reads)
    assert any(r.startswith("aten::index") for r in log.host_reads)


@pytest.mark.parametrize(("first", "second"), [(4, 8), (10, 14)])
def test_body_runs_the_same_ops_on_every_iteration_of_a_structure(tmp_path, capturable_on_cpu, first, second):
    """Other rows, other learning rates and another c (the rates drop at 6 and 8, c doubles from 4 on):
    the same kernels on the same shapes, so one capture serves every such iteration."""
    run = warmed_runner(tmp_path)
    model, n = run.model, len(run.body.index)
    assert model.train_iteration.structure_at(first) == model.train_iteration.structure_at(second)
    values = []
    logs = []
    for step, seed in ((first, 1), (second, 2)):
        rows = torch.randperm(200, generator=torch.Generator().manual_seed(seed))[:n]
        logs.append(body_ops(run, step, rows))
        values.append([float(t) for t in run.body._targets])
    assert values[0] != values[1]  # the schedule moved between the two
    assert logs[0].ops == logs[1].ops
    other = body_ops(run, 17, torch.arange(n))  # a frozen mask: another structure, other ops
    assert other.ops != logs[1].ops


def test_noise_is_drawn_in_one_place(tmp_path, capturable_on_cpu):
    run = warmed_runner(tmp_path)
    log = body_ops(run, 4, torch.arange(len(run.body.index)))
    draws = [name for name, _ in log.ops if name in ("aten::normal_", "aten::uniform_", "aten::randn_like",
                                                    "aten::rand", "aten::randn", "aten::rand_like")]
    assert draws == ["aten::normal_", "aten::uniform_"]
    assert [name for name, _ in log.ops[:2]] == draws  # before anything else


@pytest.mark.slow
def test_every_phase_runs_on_the_meta_device(tmp_path, monkeypatch):
    """Meta tensors hold no values: reading one on the host (.item(), a branch, .tolist(), a copy to
    the CPU, a data-dependent shape) raises. The conv nets pass the whole schedule there, freeze and
    between-iteration updates included (the moving average's first update reads a counter: it is
    covered by the CPU checks above, after their warm-up)."""
    allow_capturable(monkeypatch, "meta")
    cfg = tiny_config(tmp_path, **{**PHASES, "optim": {**PHASES["optim"], "ema_decay": 0.0},
                                   "model": {"arch": "conv", "conv_channels": 4}})
    with torch.device("meta"):
        model = MaskAAE(cfg, (3, 32, 32), is_image=True)
        data = torch.empty(200, 3, 32, 32, dtype=torch.uint8)
        rows = torch.empty(cfg.optim.batch_size * (1 + cfg.optim.n_critic), dtype=torch.long)
    run = GraphedTraining(model, model.configure_optimizers(), data, capture=False, capturable=True)
    for step in range(cfg.train.max_steps):
        out = run.iteration(rows, step)
    assert model.mask.beta.is_meta and all(v.is_meta for v in out.values())
    assert run.structures == [Structure(True, False), Structure(False, False), Structure(False, True)]
