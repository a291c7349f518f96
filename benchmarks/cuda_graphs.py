"""The CUDA-graphed iteration against the eager step, on one GPU (issue 25; run by gpu_check.sh).

For the CIFAR-10 conv nets (m = 128), the MNIST reference MLPs (4 x 1024) and the synthetic
default, batch 64, fp32, it runs three modes on the same data, starting from the same weights:

- ``eager``: today's step (``MaskAAE.eager_iteration``, plain optimisers, no Trainer);
- ``critic``: the graph-safe iteration with only its n_critic critic steps captured as a graph;
- ``iteration``: the whole iteration captured as one graph (what ``--cuda-graphs`` trains with).

and records for each: iterations per second (median over ``--iterations`` CUDA-event-timed
iterations, and over the wall clock), process CPU ms and GPU kernel ms per iteration (the
profiler, 10 iterations), capture seconds and the memory the capture added, the relative
difference of the updates from the eager step's after 1 and ``--diff-iterations`` iterations on
the same rows and noise (|dW - dW_eager| / |dW_eager| over every float tensor), whether two runs
from the same seed end bit-identical, and whether 50 iterations run under
``torch.cuda.set_sync_debug_mode("error")`` (no host-device sync). Results are written after
each net, so a run cut short keeps what it measured.

    python benchmarks/cuda_graphs.py --out runs/gpu-check/throughput-cuda-graphs.json
    python benchmarks/cuda_graphs.py --device cpu --tiny --out /tmp/dry.json   # dry run: tiny nets, no GPU
    python benchmarks/cuda_graphs.py --out FILE --add-e2e graphs=RUN/summary.json --add-e2e eager=...

On the CPU nothing is captured (the graph modes run their body eagerly) and the CUDA-only
figures are null: the dry run checks the script, not the speed. ``--budget-s`` skips what would
not finish in time (marked "skipped").
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from maskaae_cli.config import Config
from maskaae_cli.data.loading import as_float
from maskaae_cli.data.synthetic import synthetic_splits
from maskaae_cli.graph_runner import WARMUP_ITERATIONS, GraphedTraining
from maskaae_cli.graphed_step import recorded_noise
from maskaae_cli.model import MaskAAE
from maskaae_cli.recipe import load_recipe

CASES = {  # name: (recipe or None for the defaults, image shape or None, model overrides)
    "cifar10-conv": ("cifar10", (3, 32, 32), {"m": 128}),
    "mnist-mlp": ("mnist", (1, 28, 28), {}),
    "synthetic": (None, None, {}),
}
MODES = ("iteration", "eager", "critic")
N_IMAGES = 12_000
TINY = {"model": {"m": 8, "hidden": 16, "depth": 1, "critic_hidden": 16, "critic_depth": 1,
                  "conv_channels": 4},
        "optim": {"batch_size": 16, "n_critic": 2},
        "data": {"n_true": 2, "data_dim": 16, "data_hidden": 16, "n_train": 512}}
SYNC_ITERATIONS = 50
PROFILE_ITERATIONS = 10

Runner = Callable[[torch.Tensor, int], Any]


def case_config(name: str, tiny: bool) -> Config:
    recipe, _, model = CASES[name]
    cfg = Config()
    if recipe:
        cfg.update(load_recipe(recipe), source=recipe)
    cfg.update({"model": model, "train": {"log_every": 10**9}})  # no logging: no Trainer here
    if tiny:
        cfg.update(TINY)
    return cfg


def case_data(name: str, cfg: Config, device: torch.device, tiny: bool) -> torch.Tensor:
    """The training set on the device: random uint8 images (speed does not depend on the pixels)."""
    shape = CASES[name][1]
    if shape is None:
        d = cfg.data
        train, _, _ = synthetic_splits(d.n_true, d.data_dim, d.data_hidden, d.data_seed, (d.n_train, 2, 2))
        return train.to(device)
    g = torch.Generator().manual_seed(0)
    n = 256 if tiny else N_IMAGES
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g).to(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Eager:
    """Today's eager step on plain optimisers, the rows gathered on the device."""

    def __init__(self, model: MaskAAE, data: torch.Tensor) -> None:
        self.model, self.data = model, data
        opts = model.configure_optimizers()
        model.optimizers = lambda: opts  # type: ignore[method-assign]

    def __call__(self, rows: torch.Tensor, step: int) -> None:
        self.model.eager_iteration(as_float(self.data.index_select(0, rows)), step)


class Graphed:
    """The graph-safe iteration, its whole iteration or its critic steps captured (run eagerly on a CPU)."""

    def __init__(self, model: MaskAAE, data: torch.Tensor, scope: str, draw_noise: bool = True) -> None:
        self.graphed = GraphedTraining(model, model.configure_optimizers(), data, capture=data.is_cuda,
                                       scope=scope, draw_noise=draw_noise)

    def __call__(self, rows: torch.Tensor, step: int) -> None:
        self.graphed.iteration(rows, step)


def make_runner(mode: str, model: MaskAAE, data: torch.Tensor, draw_noise: bool = True) -> Runner:
    return Eager(model, data) if mode == "eager" else Graphed(model, data, mode, draw_noise)


def state(model: MaskAAE) -> dict[str, torch.Tensor]:
    return {k: v.detach().double().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def update_gap(start: dict, reference: dict, other: dict) -> float:
    """|dW - dW_ref| / |dW_ref| over every float tensor (weights, mask, moving average, statistics)."""
    ref = torch.cat([(reference[k] - start[k]).flatten() for k in start])
    own = torch.cat([(other[k] - start[k]).flatten() for k in start])
    return float((own - ref).norm() / ref.norm())


class Case:
    """One net: its config, data, starting weights and the rows of every iteration."""

    def __init__(self, name: str, tiny: bool, device: torch.device, total: int) -> None:
        self.name, self.device = name, device
        self.cfg = case_config(name, tiny)
        self.data = case_data(name, self.cfg, device, tiny)
        shape = CASES[name][1] or (self.cfg.data.data_dim,)
        torch.manual_seed(0)
        self.start = MaskAAE(self.cfg, shape, is_image=CASES[name][1] is not None).to(device)
        o = self.cfg.optim
        g = torch.Generator().manual_seed(1)
        rows = torch.randint(len(self.data), (total, o.batch_size * (1 + o.n_critic)), generator=g)
        self.rows = rows.to(device)

    def model(self) -> MaskAAE:
        return copy.deepcopy(self.start)

    def nets(self) -> dict[str, Any]:
        m, o = self.cfg.model, self.cfg.optim
        return {"m": m.m, "arch": type(self.start.encoder).__name__, "hidden": m.hidden, "depth": m.depth,
                "conv_channels": m.conv_channels, "critic": f"{m.critic_depth}x{m.critic_hidden}",
                "data_shape": list(self.data.shape[1:]), "batch_size": o.batch_size, "n_critic": o.n_critic,
                "parameters": sum(p.numel() for p in self.start.parameters())}


def timed(case: Case, runner: Runner, first: int, n: int) -> dict[str, Any]:
    """``n`` iterations from iteration ``first``: per-iteration CUDA events (perf_counter on a CPU)."""
    cuda = case.device.type == "cuda"
    marks = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)] \
        if cuda else []
    ms: list[float] = []
    sync(case.device)
    wall, cpu = time.perf_counter(), time.process_time()
    for j in range(n):
        step = first + j
        if cuda:
            marks[j][0].record()
        else:
            t0 = time.perf_counter()
        runner(case.rows[step % len(case.rows)], step)
        if cuda:
            marks[j][1].record()
        else:
            ms.append((time.perf_counter() - t0) * 1000)
    sync(case.device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if cuda:
        ms = [a.elapsed_time(b) for a, b in marks]
    median = statistics.median(ms)
    return {"iterations": n, "it_per_s": 1000 / median, "median_ms": median, "wall_it_per_s": n / wall,
            "cpu_ms_per_it": 1000 * cpu / n}


def gpu_ms(case: Case, runner: Runner, first: int) -> float | None:
    """GPU kernel time per iteration (the profiler's device time over a few iterations)."""
    if case.device.type != "cuda":
        return None
    try:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for j in range(PROFILE_ITERATIONS):
                runner(case.rows[(first + j) % len(case.rows)], first + j)
            sync(case.device)
        total_us = sum(getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0))
                       for e in prof.key_averages())
        return total_us / 1000 / PROFILE_ITERATIONS
    except Exception as exc:  # noqa: BLE001  (the profiler is an extra: its failure is a note)
        print(f"    profiler: {type(exc).__name__}: {exc}", flush=True)
        return None


def sync_free(case: Case, runner: Runner, first: int) -> bool | str | None:
    """Whether ``SYNC_ITERATIONS`` iterations run under set_sync_debug_mode("error") (the message if not)."""
    if case.device.type != "cuda":
        return None
    torch.cuda.set_sync_debug_mode("error")
    try:
        for j in range(SYNC_ITERATIONS):
            runner(case.rows[(first + j) % len(case.rows)], first + j)
        return True
    except RuntimeError as exc:
        return f"synced: {str(exc).strip().splitlines()[0]}"
    finally:
        torch.cuda.set_sync_debug_mode(0)
        sync(case.device)


def eager_reference(case: Case, n: int) -> tuple[dict, dict, dict, list[list[torch.Tensor]]]:
    """The eager step's start, its weights after 1 and ``n`` iterations, and the noise it drew."""
    model = case.model()
    run, start, noise = Eager(model, case.data), state(model), []
    after_one: dict = {}
    for step in range(n):
        with recorded_noise() as draws:
            run(case.rows[step], step)
        noise.append(draws)
        if step == 0:
            after_one = state(model)
    return start, after_one, state(model), noise


def gaps(case: Case, mode: str, reference: tuple, n: int) -> tuple[float, float]:
    """The update gaps from the eager step after 1 and ``n`` iterations, on the same rows and noise."""
    start, eager_one, eager_n, noise = reference
    model = case.model()
    runner = make_runner(mode, model, case.data, draw_noise=False)
    body = runner.graphed.body  # type: ignore[attr-defined]
    after_one: dict = {}
    for step in range(n):
        body.load_noise(noise[step], model.train_iteration.structure_at(step))
        runner(case.rows[step], step)
        if step == 0:
            after_one = state(model)
    sync(case.device)
    return update_gap(start, eager_one, after_one), update_gap(start, eager_n, state(model))


def same_seed(case: Case, mode: str, n: int) -> bool:
    finals = []
    for _ in range(2):
        torch.manual_seed(7)
        model = case.model()
        runner = make_runner(mode, model, case.data)
        for step in range(n):
            runner(case.rows[step], step)
        sync(case.device)
        finals.append(state(model))
    return all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def run_case(case: Case, args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    out: dict[str, Any] = {"nets": case.nets(), "modes": {}}
    first = WARMUP_ITERATIONS + 2
    reference = None
    for mode in MODES:
        if time.perf_counter() > deadline:
            out["modes"][mode] = "skipped: time budget"
            continue
        torch.manual_seed(3)
        model = case.model()
        runner = make_runner(mode, model, case.data)
        for step in range(first):  # warm-up (and, for the graphs, the capture)
            runner(case.rows[step], step)
        r = timed(case, runner, first, args.iterations)
        at = first + args.iterations
        r["gpu_ms_per_it"] = gpu_ms(case, runner, at)
        r["sync_free"] = sync_free(case, runner, at + PROFILE_ITERATIONS)
        graphed = getattr(runner, "graphed", None)
        if graphed is not None:
            captures = graphed.capture_records()
            r["capture_seconds"] = captures[-1]["seconds"] if captures else None
            r["graph_bytes"] = captures[-1]["bytes"] if captures else None
            r["captures"] = len(captures)
            cuda = case.device.type == "cuda"
            r["max_memory_allocated"] = torch.cuda.max_memory_allocated() if cuda else None
        del runner, model
        if mode != "eager" and time.perf_counter() < deadline:
            reference = reference or eager_reference(case, args.diff_iterations)
            one, many = gaps(case, mode, reference, args.diff_iterations)
            r["update_gap_1"], r[f"update_gap_{args.diff_iterations}"] = one, many
        if time.perf_counter() < deadline:
            r["same_seed_identical"] = same_seed(case, mode, args.same_seed_iterations)
        out["modes"][mode] = r
        print(f"  {case.name} {mode}: {fmt(r)}", flush=True)
    return out


COLUMNS = {"it_per_s": "it/s", "wall_it_per_s": "wall", "cpu_ms_per_it": "CPU ms", "gpu_ms_per_it": "GPU ms",
           "capture_seconds": "capture s", "update_gap_1": "gap@1", "same_seed_identical": "same seed",
           "sync_free": "sync-free"}


def fmt(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {r[k]:.4g}" if isinstance(r[k], float) else f"{k} {r[k]}"
                     for k in COLUMNS if k in r)


TARGETS = {"cifar10-conv": 100.0, "mnist-mlp": 120.0}  # issue 25: it/s of the whole-iteration graph
GAP_TARGET = 1e-6  # ... and its update after one iteration against the eager step's


def targets(results: dict[str, Any]) -> list[str]:
    """Issue 25's targets, one line each: met, missed or not measured."""
    lines = []
    for name, floor in TARGETS.items():
        r = results.get("cases", {}).get(name, {})
        r = r.get("modes", {}).get("iteration") if isinstance(r, dict) else None
        if not isinstance(r, dict):
            lines.append(f"{name}: not measured")
            continue
        speed, gap = float(r["it_per_s"]), r.get("update_gap_1")
        eager = results["cases"][name]["modes"].get("eager")
        ratio = f", {speed / eager['it_per_s']:.1f}x eager" if isinstance(eager, dict) else ""
        lines.append(f"{name}: {speed:.0f} it/s with the iteration graph (target >= {floor:.0f}"
                     f"{ratio}): {'met' if speed >= floor else 'MISSED'}")
        verdict = "not measured" if gap is None else "met" if gap <= GAP_TARGET else "MISSED"
        lines.append(f"{name}: update gap after 1 iteration {gap if gap is None else f'{gap:.2g}'} "
                     f"(target <= {GAP_TARGET:g}): {verdict}")
    e2e = results.get("end_to_end", {})
    if {"graphs", "eager"} <= set(e2e):
        g, e = e2e["graphs"].get("steps_per_second"), e2e["eager"].get("steps_per_second")
        lines.append(f"maskaae train cifar10 m=128: {g} it/s with --cuda-graphs "
                     f"(cuda_graphs={e2e['graphs'].get('cuda_graphs')}), {e} it/s eager")
    return lines


def add_e2e(path: Path, pairs: list[str]) -> None:
    """Put `maskaae train` summaries (NAME=summary.json) into the results file as end_to_end.NAME."""
    results = json.loads(path.read_text())
    for pair in pairs:
        name, _, summary_path = pair.partition("=")
        try:
            s = json.loads(Path(summary_path).read_text())
            entry = {k: s.get(k) for k in ("steps", "steps_per_second", "wall_seconds", "cuda_graphs",
                                           "cuda_graph_captures", "active_dims", "test_reconstruction", "m")}
        except (OSError, ValueError) as exc:
            entry = {"missing": f"{summary_path}: {exc}"}
        results.setdefault("end_to_end", {})[name] = entry
        print(f"end to end {name}: {entry}")
    results["targets"] = targets(results)
    print("\n".join(results["targets"]))
    path.write_text(json.dumps(results, indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--case", action="append", choices=list(CASES), help="net(s) (default: all three)")
    p.add_argument("--iterations", type=int, default=300, help="timed iterations per mode (default 300)")
    p.add_argument("--diff-iterations", type=int, default=200, help="iterations of the update check (200)")
    p.add_argument("--same-seed-iterations", type=int, default=30)
    p.add_argument("--tiny", action="store_true", help="tiny nets (the CPU dry run)")
    p.add_argument("--budget-s", type=float, default=230.0, help="skip what starts after this many seconds")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--add-e2e", action="append", metavar="NAME=SUMMARY",
                   help="only add `maskaae train` summaries to an existing --out file")
    args = p.parse_args(argv)
    if args.add_e2e:
        return args
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA GPU here; use --device cpu --tiny for the dry run")
    if args.out.exists() and not args.overwrite:
        p.error(f"{args.out} exists: give --overwrite or another --out")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.add_e2e:
        add_e2e(args.out, args.add_e2e)
        return
    torch.set_num_threads(1)
    device = torch.device(args.device)
    deadline = time.perf_counter() + args.budget_s
    results: dict[str, Any] = {
        "command": "python benchmarks/cuda_graphs.py " + " ".join(sys.argv[1:]), "device": args.device,
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None, "torch": torch.__version__,
        "machine": platform.platform(), "precision": "fp32 (TF32 off: torch's default for matmuls)",
        "warmup_iterations": WARMUP_ITERATIONS, "cases": {}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    extra = WARMUP_ITERATIONS + 2 + PROFILE_ITERATIONS + SYNC_ITERATIONS
    total = max(args.iterations, args.diff_iterations) + extra
    for name in args.case or list(CASES):
        if time.perf_counter() > deadline:
            results["cases"][name] = "skipped: time budget"
            continue
        print(f"{name}:", flush=True)
        case = Case(name, args.tiny, device, total)
        results["cases"][name] = run_case(case, args, deadline)
        args.out.write_text(json.dumps(results, indent=2) + "\n")  # after each net: a cut run keeps them
        del case
        if device.type == "cuda":
            torch.cuda.empty_cache()
    results["targets"] = targets(results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'net':<14}{'mode':<11}" + "".join(f"{c:>10}" for c in COLUMNS.values()))
    for name, case in results["cases"].items():
        for mode, r in (case.get("modes", {}) if isinstance(case, dict) else {}).items():
            if not isinstance(r, dict):
                print(f"{name:<14}{mode:<11}{r}")
                continue
            cells = [r.get(k) for k in COLUMNS]
            print(f"{name:<14}{mode:<11}" + "".join(
                f"{c:>10.3g}" if isinstance(c, float) else f"{str(c)[:9]:>10}" for c in cells))
    print("\n".join(results["targets"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
