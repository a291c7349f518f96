"""The CelebA part of the colour study, on a CPU: MaskAAE from m = 128 against WAE at the mask's count
and at 128, in Inception FID.

    python benchmarks/celeba_study.py --data DATA_DIR --workdir runs/celeba-study

DATA_DIR holds ``celeba/img_align_celeba/`` (or its .zip) as ``maskaae train --dataset celeba
--data-dir`` reads it. On a CPU ``--dataset celeba`` picks the ``celeba-cpu`` preset; every run has
seed 0 and one thread.

1. ``maskaae train --dataset celeba --data-dir DATA_DIR --m 128`` into WORKDIR/maae-m128.
2. K = that run's ``active_dims`` (its summary.json); WAE at m = K and at m = 128 into WORKDIR/wae-mK
   and WORKDIR/wae-m128 (--jobs 2 trains the two side by side).
3. Each finished run is measured once and recorded in RESULTS/runs/NAME.json (commit these: a re-run
   resumes from them and trains only what is missing): its summary's figures and the Inception FID
   of --fid-n samples against the held-out test faces (``maskaae fid RUN -n FID_N --seed 0``). A run
   folder with a summary.json is never trained again, so --workdir can point at runs trained by hand
   (--measure-only trains nothing); an interrupted one (checkpoints/last.ckpt) is resumed.
4. Pictures in RESULTS: 64 samples of maae-m128 and wae-mK, the traversal of maae-m128.
5. Prints each verdict and writes RESULTS.json (RESULTS/../celeba.json by default): the runs, the
   verdicts, the machine and the paper's CelebA FID as a reference of another scale.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fig4_common import cli, machine  # noqa: E402

TRAVERSE_ROWS = 10  # dimensions in the traversal picture
M = 128  # MaskAAE's latent size, WAE's largest
TARGETS = {"within": 1.10, "min_active": 10, "minutes": 30}
PAPER = {"model": "MaskAAE", "dataset": "CelebA", "fid": 40.5, "hardware": "GPU", "iterations": 500_000,
         "training_data": "the full CelebA training split", "samples": 10_000}


def name(model: str, m: int) -> str:
    return f"{model}-m{m}"


@dataclass
class CelebaStudy:
    """The three runs, each trained in WORKDIR/NAME (its output in WORKDIR/NAME.log) unless it has
    finished, measured once and recorded in RESULTS/runs/NAME.json. A record counts where it was
    measured with the same number of samples (``fid_n``); one with another number has the run
    measured again where its folder is still there, and never trained again."""

    workdir: Path
    results: Path
    data: Path
    fid_n: int = 2000
    measure_only: bool = False

    @property
    def records(self) -> Path:
        return self.results / "runs"

    def run_folder(self, run: str) -> Path:
        return self.workdir / run

    def finished(self, run: str) -> bool:
        return (self.run_folder(run) / "summary.json").is_file()

    def recorded(self, run: str) -> dict[str, Any] | None:
        record = self.records / f"{run}.json"
        row = json.loads(record.read_text()) if record.is_file() else None
        return row if row is not None and row.get("fid_n") == self.fid_n else None

    def train(self, model: str, m: int) -> None:
        """``maskaae train`` as a user runs it, or ``--resume`` where an interrupted run left a
        checkpoint; a failure is printed (the other runs go on) and the next re-run retries it."""
        run = self.run_folder(name(model, m))
        if (run / "checkpoints" / "last.ckpt").is_file():
            words: list[object] = ["train", "--resume", run]
        else:
            words = ["train", "--dataset", "celeba", "--data-dir", self.data, "--m", m, "--model", model,
                     "--seed", 0, "--out", run]
        words += ["--threads", 1, "--no-progress"]
        print("$ maskaae " + " ".join(map(str, words)), flush=True)
        log = self.workdir / f"{name(model, m)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            code = subprocess.run([sys.executable, "-m", "maskaae_cli", *map(str, words)], stdout=out,
                                  stderr=subprocess.STDOUT).returncode
        if code != 0:
            print(f"error: {name(model, m)} failed (see {log}): re-run the same command to retry it",
                  flush=True)

    def measure(self, model: str, m: int) -> dict[str, Any]:
        """The run's summary figures and its Inception FID, measured now."""
        run = self.run_folder(name(model, m))
        summary = json.loads((run / "summary.json").read_text())
        start = time.time()
        rec = json.loads(cli("fid", run, "--json", "-n", self.fid_n, "--seed", 0, "--threads", 1,
                             "--no-progress").stdout)
        fid = {key: rec.get(key) for key in ("fid", "n", "n_real", "features", "network_weights",
                                             "weights_sha256", "real_cached")}
        return {"name": name(model, m), "model": model, "m": m, "seed": summary.get("seed", 0),
                "active_dims": summary["active_dims"], "steps": summary["steps"],
                "global_batch_size": summary.get("global_batch_size"),
                "wall_seconds": summary["wall_seconds"], "steps_per_second": summary["steps_per_second"],
                "test_reconstruction": summary.get("test_reconstruction"), "fid_n": self.fid_n,
                "fid": fid | {"seconds": round(time.time() - start, 1)}}

    def train_and_record(self, model: str, m: int) -> dict[str, Any] | None:
        """The run's record: the one written before, else the run trained (unless it has finished or
        --measure-only) and measured, its record written at once; None where it has not finished."""
        run = name(model, m)
        row = self.recorded(run)
        if row is not None:
            return row
        measured_before = (self.records / f"{run}.json").is_file()  # another --fid-n: never train again
        if not self.finished(run) and not self.measure_only and not measured_before:
            self.train(model, m)
        if not self.finished(run):
            return None
        row = self.measure(model, m)
        self.records.mkdir(parents=True, exist_ok=True)
        (self.records / f"{run}.json").write_text(json.dumps(row, indent=2) + "\n")
        print(f"recorded {run}: {row['active_dims']} active, Inception FID {row['fid']['fid']:.2f} "
              f"({self.fid_n} samples), {row['wall_seconds'] / 60:.1f} min", flush=True)
        return row

    def run(self, jobs: int = 1) -> tuple[int | None, dict[str, dict[str, Any]], list[str]]:
        """MaskAAE first, then WAE at its count K and at 128 (``jobs`` at a time): K, the records of
        the runs that finished, and the names of those that did not."""
        rows: dict[str, dict[str, Any]] = {}
        maae = self.train_and_record("maae", M)
        if maae is None:
            return None, rows, [name("maae", M), "wae-mK", name("wae", M)]
        rows[maae["name"]] = maae
        k = int(maae["active_dims"])
        wae_ms = list(dict.fromkeys(m for m in (k, M) if m >= 1))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for row in pool.map(lambda m: self.train_and_record("wae", m), wae_ms):
                if row is not None:
                    rows[row["name"]] = row
        missing = [name("wae", m) for m in wae_ms if name("wae", m) not in rows]
        if k < 1:
            missing.insert(0, "wae-m0 (the mask closed every dimension)")
        return k, rows, missing

    def pictures(self, k: int | None) -> list[str]:
        """Samples of MaskAAE and of WAE at K, the MaskAAE traversal, in RESULTS (one that exists is
        kept); the files there, as RESULTS-relative names."""
        sample: list[object] = ["sample", "-n", 64, "--nrow", 8]
        wanted = [(name("maae", M), f"{name('maae', M)}-samples.png", sample),
                  (name("maae", M), f"{name('maae', M)}-traverse.png", self.traverse_words(name("maae", M)))]
        if k:
            wanted.insert(1, (name("wae", k), f"{name('wae', k)}-samples.png", sample))
        made = []
        for run, file, words in wanted:
            out = self.results / file
            if not out.is_file() and self.finished(run):
                self.results.mkdir(parents=True, exist_ok=True)
                result = cli(words[0], self.run_folder(run), *words[1:], "--threads", 1, "--out", out,
                             check=False)
                if result.returncode != 0:
                    print(f"warning: no {file}: {result.stderr.strip()[-500:]}", flush=True)
            out.with_suffix(".npz").unlink(missing_ok=True)  # traverse's numbers: tens of MB, not kept
            if out.is_file():
                made.append(file)
        return made

    def traverse_words(self, run: str) -> list[object]:
        """``maskaae traverse`` of the first TRAVERSE_ROWS open dimensions (a picture of all 93 is 5 MB)."""
        summary = self.run_folder(run) / "summary.json"
        if not summary.is_file():
            return ["traverse"]
        alpha = json.loads(summary.read_text()).get("alpha") or []
        open_dims = [j for j, a in enumerate(alpha) if a >= 0.5][:TRAVERSE_ROWS]
        return ["traverse", "--dims", ",".join(map(str, open_dims))] if open_dims else ["traverse"]


def verdicts(k: int | None, rows: dict[str, dict[str, Any]], missing: list[str]) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it is met: MaskAAE's FID against WAE's at the
    mask's count and at 128, the count, each run's minutes against a CPU preset's budget."""
    out: list[dict[str, Any]] = []
    maae = rows.get(name("maae", M))
    if maae is not None and k is not None:
        low = TARGETS["min_active"]
        out.append({"target": f"the mask keeps {low}-{M - 1} of {M} dimensions (closes some, no collapse)",
                    "measured": f"{k} of {M}", "met": low <= k < M})
        for m, target, met in ((k, f"within {TARGETS['within']}x of WAE's at the mask's count (m = {k})",
                                lambda ratio: ratio <= TARGETS["within"]),
                               (M, f"below WAE's at m = {M}", lambda ratio: ratio < 1.0)):
            wae = rows.get(name("wae", m))
            if wae is None:
                continue
            ratio = maae["fid"]["fid"] / wae["fid"]["fid"]
            out.append({"target": f"MaskAAE's Inception FID {target}",
                        "measured": f"{ratio:.2f}x (FID {maae['fid']['fid']:.1f} vs {wae['fid']['fid']:.1f})",
                        "met": met(ratio)})
    for row in rows.values():
        minutes = row["wall_seconds"] / 60
        out.append({"target": f"{row['name']} within {TARGETS['minutes']} minutes on one core (a CPU "
                              "preset's budget)",
                    "measured": f"{minutes:.1f} min ({row['steps']} iterations, "
                                f"{row['steps_per_second']} it/s)",
                    "met": minutes <= TARGETS["minutes"]})
    if missing:
        out.append({"target": "every run measured", "measured": f"missing: {', '.join(missing)}",
                    "met": False})
    return out


def paper_reference(rows: dict[str, dict[str, Any]], fid_n: int) -> dict[str, Any]:
    """The paper's CelebA FID and how far this study's scale is from it."""
    steps = max((r["steps"] for r in rows.values()), default=None)
    here = (f"{steps:,} iterations ({steps / PAPER['iterations']:.1%} of the paper's)" if steps
            else "no finished run yet")
    return PAPER | {"scale": f"not comparable figure for figure: this study trains {here} with the "
                             f"celeba-cpu preset's small conv nets (64x64 faces) on one CPU thread and "
                             f"measures {fid_n:,} samples, not {PAPER['samples']:,} (FID reads higher from "
                             "fewer samples); compare its runs with each other"}


def shown_command(argv: list[str]) -> str:
    """The command line (quoted as a shell reads it) with the data path written as DATA_DIR."""
    return shlex.join("DATA_DIR" if i and argv[i - 1] == "--data"
                    else "--data=DATA_DIR" if w.startswith("--data=") else w for i, w in enumerate(argv))


def report(study: CelebaStudy, k: int | None, rows: dict[str, dict[str, Any]], missing: list[str],
           pictures: list[str], command: str, jobs: int, note: str, seconds: float) -> dict[str, Any]:
    checks = verdicts(k, rows, missing)
    return {"benchmark": "CelebA: MaskAAE from m = 128 against WAE at the mask's count and at 128, on a CPU",
            "command": command, "machine": machine(jobs, note),
            "quality": f"Inception FID (pool3) of {study.fid_n:,} samples against the held-out test faces "
                       f"(maskaae fid RUN -n {study.fid_n} --seed 0)",
            "mask_count": k, "runs": list(rows.values()), "missing_runs": missing, "pictures": pictures,
            "targets": checks, "all_met": bool(checks) and all(c["met"] for c in checks),
            "paper_reference": paper_reference(rows, study.fid_n), "benchmark_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the folder holding celeba/img_align_celeba/")
    p.add_argument("--workdir", type=Path, default=Path("runs/celeba-study"), help="the run folders")
    p.add_argument("--results", type=Path, default=Path("benchmarks/results/celeba"),
                   help="folder of the per-run records (runs/NAME.json) and pictures; the report is "
                        "RESULTS.json beside it")
    p.add_argument("--jobs", type=int, default=1, help="trainings side by side (the two WAE runs)")
    p.add_argument("--fid-n", type=int, default=2000, help="generated samples per FID")
    p.add_argument("--measure-only", action="store_true", help="train nothing; measure what has finished")
    p.add_argument("--machine-note", default="", help="what else shared the machine (for the record)")
    args = sys.argv[1:] if argv is None else argv
    a = p.parse_args(args)
    started = time.time()
    study = CelebaStudy(a.workdir, a.results, a.data, a.fid_n, a.measure_only)
    k, rows, missing = study.run(a.jobs)
    pictures = study.pictures(k)
    for r in rows.values():
        print(f"{r['name']:>10}: {r['active_dims']:>3} active, Inception FID {r['fid']['fid']:.2f}, "
              f"{r['wall_seconds'] / 60:.1f} min", flush=True)
    command = shown_command(["python", "benchmarks/celeba_study.py", *args])
    out = report(study, k, rows, missing, pictures, command, a.jobs, a.machine_note, time.time() - started)
    for c in out["targets"]:
        print(f"[{'MET' if c['met'] else 'NOT MET'}] {c['target']}: {c['measured']}")
    print(f"paper: FID {PAPER['fid']} ({out['paper_reference']['scale']})")
    file = a.results.parent / f"{a.results.name}.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {file}")
    return out


if __name__ == "__main__":
    main()
