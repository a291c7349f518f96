"""The paper's Figure 4c on Fashion-MNIST, on a CPU: WAE's quality against m beside MaskAAE's.

    python benchmarks/fashion_fig4.py --data FASHION_DIR --workdir runs/fashion-fig4 --jobs 2

FASHION_DIR holds Fashion-MNIST's four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not), or holds them in FashionMNIST/raw/
(torchvision's layout, what ``maskaae train --dataset fashion-mnist`` downloads).

1. Trains the MNIST benchmark's classifier (``benchmarks/mnist_eval.py``: two conv layers, a 128-unit
   penultimate layer) on the 60,000 training images and keeps its penultimate layer as a TorchScript
   feature space; its accuracy on the 10,000 test images is reported.
2. ``maskaae sweep-m --dataset idx:FASHION_DIR`` trains WAE and MaskAAE with the preset (--recipe,
   default fashion-mnist-cpu) at every --m with seed 0 and at --seed1-m with seed 1, on the training
   split (the run's own 10% validate), one thread each, --jobs at a time, the largest m first.
3. Measures every run as it finishes (``maskaae fid RUN --features fashion_features.pt``: 10,000
   samples against the 10,000 test images) and writes it to RESULTS/runs/NAME.json (commit these: a
   grid longer than a session resumes from them, and trains only the runs without one).
4. ``maskaae dims`` (MLE, TwoNN) on the training images (RESULTS/dims.json); prints the MNIST
   benchmark's targets with their verdicts (``mnist_fig4.verdicts``; the dimension target is also met
   within 0.5x-2x of the MLE estimate at k = 20); writes RESULTS.json and RESULTS.png (RESULTS:
   --results, default benchmarks/results/fashion-fig4).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from maskaae_cli.data.idx import read_idx_images

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classifier_file import save, saved_record  # noqa: E402
from fig4_common import MODELS, Study, intrinsic_dims, judged, machine, plot_against_m, wanted_runs  # noqa: E402
from mnist_eval import FeatureExtractor, accuracy, find, md5, read_labels, train_classifier  # noqa: E402
from mnist_fig4 import TARGETS, verdicts  # noqa: E402

SEED = 0
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",  # gzipped (.gz) or not
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def data_folder(data: Path) -> Path:
    """The folder of the IDX files: ``data`` itself, or torchvision's ``data/FashionMNIST/raw``."""
    raw = data / "FashionMNIST" / "raw"
    return raw if not any(data.glob("train-images-idx3-ubyte*")) and raw.is_dir() else data


def prepare(folder: Path, out: Path, epochs: int = 6) -> dict[str, Any]:
    """Write OUT/fashion_features.pt and OUT/classifier.json (reused when already there for the same
    files and epochs); the record."""
    features = out / "fashion_features.pt"
    paths = [find(folder, stem) for stem in FILES]
    source = {p.name: md5(p) for p in paths}
    record = saved_record(features, lambda r: (r.get("epochs"), r.get("source")) == (epochs, source))
    if record is not None:
        return record
    train_x, test_x = read_idx_images(paths[0]), read_idx_images(paths[2])
    train_y, test_y = read_labels(paths[1]), read_labels(paths[3])
    net = train_classifier(train_x, train_y, epochs, SEED)
    return save(FeatureExtractor(net), features,
                {"source": source, "epochs": epochs, "seed": SEED, "feature_dim": 128,
                 "train_images": len(train_x), "test_images": len(test_x),
                 "train_accuracy": accuracy(net, train_x, train_y),
                 "test_accuracy": accuracy(net, test_x, test_y)})


def figure(rows: list[dict[str, Any]], path: Path, title: str, mle: float | None) -> None:
    def mark(ax: Any, all_m: list[int]) -> None:
        low, high = TARGETS["active"]
        ax.axhspan(low, high, color="green", alpha=0.1, label=f"target {low}-{high}")
        if mle:
            ax.axhline(mle, color="green", lw=1, label=f"MLE estimate {mle:.0f}")

    quality = [("frechet_classifier", "Frechet distance, Fashion-MNIST classifier features",
                "sample quality against m")]
    plot_against_m(rows, path, title, quality, mark, figsize=(11, 4.2))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True,
                   help="folder of Fashion-MNIST's four IDX files (or of FashionMNIST/raw/ with them)")
    p.add_argument("--workdir", type=Path, default=Path("runs/fashion-fig4"))
    p.add_argument("--results", type=Path, default=Path("benchmarks/results/fashion-fig4"),
                   help="folder of the per-run records (RESULTS/runs/NAME.json) and dims.json; the report is "
                        "RESULTS.json and RESULTS.png beside it")
    p.add_argument("--recipe", default="fashion-mnist-cpu")
    p.add_argument("--m", default="4,8,12,16,32,64", help="latent sizes, seed 0")
    p.add_argument("--seed1-m", default="16,64", help="latent sizes also trained with seed 1")
    p.add_argument("--models", default=",".join(MODELS), type=lambda s: s.split(","))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=6, help="classifier epochs")
    p.add_argument("--max-steps", type=int, default=None,
                   help="training iterations of every run instead of the preset's (a smoke test; the records "
                        "keep it, so they never stand in for the preset's runs)")
    p.add_argument("--measure-only", action="store_true", help="train nothing; measure what has finished")
    p.add_argument("--machine-note", default="", help="what else shared the machine (for the record)")
    a = p.parse_args()
    started = time.time()
    folder = data_folder(a.data).resolve()
    classifier = prepare(folder, a.workdir / "eval", a.epochs)
    print(f"classifier: test accuracy {classifier['test_accuracy']:.3f} "
          f"(training images {classifier['train_accuracy']:.3f})", flush=True)
    steps = ["--max-steps", a.max_steps] if a.max_steps else []
    key = {"classifier_sha256": classifier["file_sha256"], "recipe": a.recipe, "max_steps": a.max_steps}
    study = Study(a.workdir, a.results / "runs", ["--dataset", f"idx:{folder}", "--recipe", a.recipe, *steps],
                  a.workdir / "eval" / "fashion_features.pt", key, a.measure_only, fid_words=("--threads", 1),
                  recipe=a.recipe)
    wanted = wanted_runs(a.models, a.m, a.seed1_m)
    rows = study.run(wanted, a.jobs)
    for r in rows.values():
        print(f"{r['model']:>4} m={r['m']:>2} s{r['seed']}: {r['active_dims']:>2} active, FD classifier "
              f"{r['frechet_classifier']:.2f}, {r['wall_seconds'] / 60:.1f} min", flush=True)
    dims, mle = intrinsic_dims(a.results / "dims.json", f"idx:{folder}", "--threads", 1,
                               shown="idx:FASHION_DIR")
    done = sorted(rows.values(), key=lambda r: (r["seed"], r["model"], r["m"]))
    checks = verdicts(done, mle, better_at=(64,)) if done else []
    missing = judged(checks, wanted, rows.keys())
    report = {"benchmark": "Figure 4c on Fashion-MNIST: WAE and MaskAAE against the latent size, on a CPU",
              "command": " ".join("FASHION_DIR" if w == str(a.data) else w for w in sys.argv),
              "recipe": a.recipe, "max_steps": a.max_steps, "classifier": classifier, "dims": dims,
              "machine": machine(a.jobs, a.machine_note),
              "quality": "Frechet distance of 10,000 samples against the 10,000 test images in the "
                         "classifier's 128-d penultimate layer ('maskaae fid RUN --features "
                         "fashion_features.pt --seed SEED')",
              "runs": done, "missing_runs": missing,
              "targets": checks, "all_met": bool(checks) and all(c["met"] for c in checks),
              "benchmark_seconds": round(time.time() - started, 1)}
    out = a.results.parent / f"{a.results.name}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    if done:
        title = f"Fashion-MNIST ({classifier['train_images']:,} training images), preset {a.recipe}"
        figure(done, out.with_suffix(".png"), title, mle)
    print(f"wrote {out}" + (f" and {out.with_suffix('.png')}" if done else ""))


if __name__ == "__main__":
    main()
