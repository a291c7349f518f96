"""Nothing lost, round two (issue 32): one test per cause, each with several of the issue's cases.

--resume writes only into an intact run folder; --overwrite survives SIGKILL / SIGTERM and symlinks;
user text prints literally; SIGTERM removes temporary files; extractor output is checked; resource
failures and limits are one line; data is read as it is; the messages say what is true.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cli_support import assert_one_line_error, fid_of, run_cli
from helpers import TINY, snapshot
from image_fixtures import idx_bytes, write_image_folder
from PIL import Image

from maskaae_cli.errors import TrainingDiverged, UserError
from maskaae_cli.replace_journal import journal_path

REPO = Path(__file__).resolve().parent.parent


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1] + "\n"


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def hidden(folder: Path) -> list[str]:
    """What an --overwrite or a writer may leave behind: .NAME.replaced-*, journals, temporary files."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture
def run(tmp_path, trained_run) -> Path:
    """A private copy of the finished tiny run."""
    return copy_run(trained_run, tmp_path / "run")


# ---------------------------------------------------------------- 1. --resume writes into any folder
def test_resume_writes_only_into_an_intact_run_folder(tmp_path, capsys, run, monkeypatch):
    user = tmp_path / "userdir"
    user.mkdir()
    shutil.copy(run / "checkpoints" / "last.ckpt", user / "last.ckpt")
    (user / "metrics.csv").write_text("my own line\n")
    (user / "summary.json").write_text('{"mine": 1}\n')
    before = snapshot(user)
    code, _, err = run_cli(capsys, "train", "--resume", user / "last.ckpt", "--max-steps", "30")
    assert_one_line_error(code, err, "not a maskaae run folder", "--resume writes only into")
    assert snapshot(user) == before

    damaged = {"run.json": b"\xff\xfe{", "metrics.csv": b"step,x\n\xff\n", "logger.json": b"[1, 2]",
               "run.json ": None}  # the last: run.json replaced by a folder
    for name, data in damaged.items():
        folder = copy_run(run, tmp_path / f"damaged-{len(os.listdir(tmp_path))}")
        target = folder / name.strip()
        if data is None:
            target.unlink()
            target.mkdir()
        else:
            target.write_bytes(data)
        before = snapshot(folder)
        code, _, err = run_cli(capsys, "train", "--resume", folder, "--max-steps", "30")
        assert_one_line_error(code, err, f"{target} is damaged")
        assert snapshot(folder) == before

    folder = copy_run(run, tmp_path / "read-only")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not (Path(p) == folder and mode & os.W_OK)
                        and real_access(p, mode))  # root may write anywhere: a read-only folder, faked
    code, _, err = run_cli(capsys, "train", "--resume", folder, "--max-steps", "30")
    assert_one_line_error(code, err, "read-only", "chmod")


# ---------------------------------------------------------------- 2. --overwrite is not crash-safe
STALL = ("import sys, time, lightning.pytorch as pl\n"
         "def stall(self, *args, **kwargs):\n"
         "    sys.stderr.write('FIT\\n'); sys.stderr.flush(); time.sleep(120)\n"
         "pl.Trainer.fit = stall  # the window between moving the old run aside and the first iteration\n"
         "from maskaae_cli.cli.app import main\n"
         "main(sys.argv[1:])\n")


def start_stalled_overwrite(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", STALL, "train", *TINY, "--out", str(out), "--overwrite"],
                            stderr=subprocess.PIPE, text=True, cwd=out.parent)
    assert proc.stderr is not None
    for line in proc.stderr:  # the old run is aside once fit starts
        if line.strip() == "FIT":
            return proc
    raise AssertionError(f"the stalled run ended early: {proc.wait()}")


@pytest.mark.slow
def test_overwrite_survives_kill_and_term_before_the_first_iteration(tmp_path, capsys, run):
    before = snapshot(run)
    proc = start_stalled_overwrite(run)
    assert any(n.startswith(".run.replaced-") for n in hidden(tmp_path)) and journal_path(run).is_file()
    proc.kill()
    proc.wait()
    assert not (run / "model.ckpt").exists()  # what the issue saw: the finished run hidden
    code, out, err = run_cli(capsys, "inspect", run, "--json")  # any later command puts it back
    assert code == 0 and "rolled back an interrupted --overwrite" in err
    assert json.loads(out)["steps"] == 20
    assert snapshot(run) == before and hidden(tmp_path) == []

    proc = start_stalled_overwrite(run)  # SIGTERM: rolled back in the process itself
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "the old run is back as it was" in err and "terminated" in err
    assert snapshot(run) == before and hidden(tmp_path) == []

    # a replace killed while deleting the old copy is finished by the next command
    aside = copy_run(run, tmp_path / ".run.replaced-1")
    journal_path(run).write_text(json.dumps({"state": "committing", "target": "run", "aside": aside.name,
                                             "pid": proc.pid, "host": socket.gethostname()}))
    code, _, err = run_cli(capsys, "sample", run, "-n", "2", "--out", tmp_path / "s.npz")
    assert code == 0 and "finished an interrupted --overwrite" in err
    assert hidden(tmp_path) == [] and snapshot(run) == before


@pytest.mark.slow
def test_overwrite_through_a_symlink_replaces_the_folder_it_points_to(tmp_path, capsys, run):
    link = tmp_path / "link"
    link.symlink_to(run)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", link, "--overwrite")
    assert code == 0, err
    assert link.is_symlink() and link.resolve() == run.resolve()
    assert sorted(os.listdir(run / "checkpoints")) == ["last.ckpt"]  # not last-v1.ckpt beside the old one
    assert json.loads((run / "summary.json").read_text())["steps"] == 12 and hidden(tmp_path) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    code, _, err = run_cli(capsys, "train", *TINY, "--out", dangling, "--overwrite")
    assert_one_line_error(code, err, "symbolic link", "does not exist")


# ---------------------------------------------------------------- 3. user text read as rich markup
@pytest.mark.slow
def test_user_text_is_printed_literally(tmp_path, capsys, trained_run):
    code, _, err = run_cli(capsys, "inspect", tmp_path / "[/x]")
    assert_one_line_error(code, err, "[/x]")
    code, _, err = run_cli(capsys, "train", "--dataset", "foo[/x]")
    assert_one_line_error(code, err, "'foo[/x]'")
    out_dir = tmp_path / "r[/red]"
    code, out, err = run_cli(capsys, "train", *TINY, "--out", out_dir)
    assert code == 0, err
    assert "r[/red]" in out and (out_dir / "model.ckpt").is_file()
    code, out, _ = run_cli(capsys, "sample", trained_run, "-n", "2", "--out", tmp_path / "s[bold]x.npz")
    assert code == 0 and "s[bold]x.npz" in out


# ---------------------------------------------------------------- 4. SIGTERM during sample
@pytest.mark.slow
def test_sigterm_during_sample_removes_the_temporary_file(tmp_path, trained_run):
    target = tmp_path / "big.npz"
    proc = subprocess.Popen([sys.executable, "-m", "maskaae_cli", "sample", str(trained_run), "-n",
                             "3000000", "--out", str(target), "--no-progress"], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().splitlines()[-1] == "terminated"
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- 5. bad extractor output
class _Bad(torch.nn.Module):
    def __init__(self, kind: int) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        if self.kind == 0:
            return flat[:, :4] * float("nan")
        if self.kind == 1:
            return flat[:, :1]
        return flat[:, : 2 + x.shape[0] % 3]  # the width changes with the batch


def test_extractor_output_is_checked(tmp_path):
    from maskaae_cli.callbacks import FrechetEvaluation
    from maskaae_cli.metrics import fid, stats_cache
    from maskaae_cli.metrics.features import build_feature_space, eval_feature_space

    real = torch.rand(12, 1, 8, 8)
    needles = ["NaN or infinite features", "1 feature per image", "after"]
    for kind, needle in enumerate(needles):
        path = tmp_path / f"bad{kind}.pt"
        torch.jit.save(torch.jit.script(_Bad(kind)), str(path))
        space = build_feature_space(str(path))
        with pytest.raises(UserError, match=needle) as info:
            fid_of([real[:5], real[5:9]], real, space, batch_size=4)
        assert f"--features {path}" in str(info.value)
    space, _ = eval_feature_space(str(tmp_path / "bad0.pt"))
    with pytest.raises(UserError, match="--eval-features .*NaN") as info:  # not "training diverged"
        FrechetEvaluation(real, 4, space).setup(None, None, "fit")  # type: ignore[arg-type]
    assert not isinstance(info.value, TrainingDiverged)

    cache = tmp_path / "stats.npz"
    stats_cache.save(cache, {"mu": np.full(3, np.nan), "sigma": np.eye(3), "n": np.array(12)},
                     stats_cache.fingerprint(real))
    assert fid.cached_real(real, cache, False) is None  # NaN statistics are recomputed, never trusted


# ---------------------------------------------------------------- 6. resources and limits
@pytest.mark.slow
def test_resources_and_limits_are_one_line(tmp_path, capsys, monkeypatch, run):
    for extra, needle in ((["--m", str(10**29)], "--m"), (["--batch-size", str(10**20)], "--batch-size"),
                          (["--max-steps", str(10**20)], "--max-steps")):
        code, _, err = run_cli(capsys, "train", *TINY, *extra, "--out", tmp_path / "huge")
        assert_one_line_error(code, err, needle, "too large")
    code, _, err = run_cli(capsys, "train", *TINY, "--batch-size", "10000000", "--out", tmp_path / "oom")
    assert_one_line_error(code, err, "--batch-size 10000000", "memory")
    code, _, err = run_cli(capsys, "train", *TINY, "--devices", "-1", "--accelerator", "cpu",
                           "--out", tmp_path / "dev")
    assert_one_line_error(code, err, "hardware options")
    for command in (["sample", run], ["fid", run], ["traverse", run], ["dims", "synthetic"]):
        code, _, err = run_cli(capsys, *command, "--seed", "-1")
        assert_one_line_error(code, err, "--seed")
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 3000 + "]" * 3000)
    code, _, err = run_cli(capsys, "train", "--recipe", deep, "--out", tmp_path / "deep")
    assert_one_line_error(code, err, "nested too deeply")
    assert sorted(os.listdir(tmp_path)) == ["deep.yaml", "run"]  # no folder made by any of them

    from maskaae_cli import atomic_io

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_io.os, "fsync", full)
    before = snapshot(run)
    code, _, err = run_cli(capsys, "train", *TINY, "--out", run, "--overwrite")  # a full disk
    assert_one_line_error(code, last_line(err), "no space left", "run.replace.json")  # after the preset line
    assert snapshot(run) == before and hidden(tmp_path) == []
    code, _, err = run_cli(capsys, "train", *TINY, "--out", tmp_path / "new")
    assert_one_line_error(code, last_line(err), "no space left", "config.yaml")
    assert not (tmp_path / "new").exists()  # a run that fails before its first iteration leaves nothing
    code, _, err = run_cli(capsys, "traverse", run, "--out", tmp_path / "t.png")
    assert_one_line_error(code, err, "no space left", "t.npz")
    assert not list(tmp_path.glob("*t.*"))
    monkeypatch.undo()

    from maskaae_cli import checkpoint

    def no_memory(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(checkpoint, "load_model", no_memory)
    code, _, err = run_cli(capsys, "inspect", run)
    assert_one_line_error(code, err, "out of memory", "lower --batch-size")


def test_image_and_cache_limits_are_checked_first(tmp_path, monkeypatch):
    from maskaae_cli.cli.fid import check_cache_dir
    from maskaae_cli.data.folder import load_folder
    from maskaae_cli.failures import describe

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for folder, needle in ((blocker, "is a file"), (blocker / "stats", "is a file")):
        with pytest.raises(UserError, match=needle):
            check_cache_dir(folder, given=True)
    with pytest.raises(UserError, match="--no-cache"):
        check_cache_dir(blocker, given=False)
    images = write_image_folder(tmp_path / "images", n=3, grey=True)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 40x30 images: a decompression bomb to Pillow
    with pytest.raises(UserError, match="too large to decode safely"):
        load_folder(images, 8)
    monkeypatch.undo()
    with pytest.raises(UserError, match="--image-size"):
        load_folder(images, 1_000_000)
    assert "too large" in describe(OverflowError("int too large to convert"))
    assert "nested too deeply" in describe(RecursionError())
    assert "permission denied" in describe(PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert "read-only file system" in describe(OSError(errno.EROFS, "Read-only file system", "/x"))


@pytest.mark.slow
def test_a_full_stdout_is_one_line(tmp_path, trained_run):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "maskaae_cli", "inspect", str(trained_run)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "no space left" in lines[0], proc.stderr


# ---------------------------------------------------------------- 7. data silently wrong
def test_data_is_read_as_it_is(tmp_path, capsys, run):
    from maskaae_cli.data.decode import to_8bit
    from maskaae_cli.data.folder import list_images, load_folder

    deep = tmp_path / "deep"
    deep.mkdir()
    for i in range(4):  # 16-bit greys spanning the whole range: 98.9% white under convert("L")
        Image.fromarray((np.linspace(0, 65535, 64).reshape(8, 8) * (i + 1) / 4).astype(np.uint16)).save(
            deep / f"{i}.png")
    images = load_folder(deep, 8).float()
    assert (images == 255).float().mean() < 0.1 and abs(float(images[3].max()) - 255) < 1
    assert abs(float(images[1].max()) - 255 / 2) < 2
    assert np.asarray(to_8bit(Image.fromarray(np.full((4, 4), 0.5, np.float32)), "f")).max() == 128
    with pytest.raises(UserError, match="float pixels from"):
        to_8bit(Image.fromarray(np.full((4, 4), 7.5, np.float32)), "f")

    data = write_image_folder(tmp_path / "data", n=6, grey=True)
    code, _, err = run_cli(capsys, "train", "--dataset", f"folder:{data}", "--image-size", "8", "--arch",
                           "mlp", "--max-steps", "2", "--no-progress", "--out", data / "run1")
    assert_one_line_error(code, err, "inside the dataset folder")
    assert not (data / "run1").exists()
    copy_run(run, data / "run1")
    (data / "run1" / "mask_trajectory.png").write_bytes((data / "img01.png").read_bytes())
    assert all("run1" not in p.parts for p in list_images(data))

    code, _, err = run_cli(capsys, "traverse", run, "--range", "1e308", "--out", tmp_path / "t.png")
    assert_one_line_error(code, err, "--range", "too large")
    code, _, err = run_cli(capsys, "traverse", run, "--range", "1e30", "--out", tmp_path / "t.png")
    assert_one_line_error(code, err, "--range", "not finite")
    assert not list(tmp_path.glob("t.*"))


# ---------------------------------------------------------------- 8. misleading messages
def test_messages_say_what_is_true(tmp_path, capsys, monkeypatch, run):
    from maskaae_cli.cli.common import check_run_data
    from maskaae_cli.config import DataConfig
    from maskaae_cli.data.idx import read_idx_images
    from maskaae_cli.data.paths import data_dir
    from maskaae_cli.metrics.features import inception_features

    empty = tmp_path / "empty-idx3-ubyte"
    empty.write_bytes(idx_bytes(np.zeros((5, 0, 0), np.uint8)))
    with pytest.raises(UserError, match="5 images of 0x0 pixels: nothing to train on"):
        read_idx_images(empty, fix="replace it")
    with pytest.raises(UserError, match="--inception-weights .* not an Inception-v3 weights file") as info:
        inception_features("cpu", run / "model.ckpt")
    assert "delete" not in str(info.value)

    noise = tmp_path / "noise.ckpt"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    code, _, err = run_cli(capsys, "inspect", noise)
    line = assert_one_line_error(code, err, "not a readable maskaae checkpoint")
    assert "Python objects" not in line

    monkeypatch.setattr(shutil, "disk_usage", lambda p: SimpleNamespace(total=10**9, used=10**9, free=0))
    code, _, err = run_cli(capsys, "sample", run, "-n", "100", "--out", tmp_path / "s.npz")
    assert_one_line_error(code, err, "0 bytes free", "free some space")
    monkeypatch.undo()

    blocker = tmp_path / "data-file"
    blocker.write_text("x")
    monkeypatch.setenv("MASKAAE_DATA", str(blocker))
    with pytest.raises(UserError, match=r"\$MASKAAE_DATA .* is a file, not a folder") as info:
        data_dir(DataConfig(dataset="mnist"))
    assert "MNIST files" not in str(info.value)
    with pytest.raises(UserError, match="no longer exists: put the data back") as info:
        check_run_data(DataConfig(dataset=f"folder:{tmp_path / 'moved'}"))
    assert "--dataset" not in str(info.value)

    images = write_image_folder(tmp_path / "images", n=6, grey=True)
    not_script = tmp_path / "feat.pt"
    not_script.write_bytes(b"not torchscript")
    code, _, err = run_cli(capsys, "train", "--dataset", f"folder:{images}", "--image-size", "8", "--arch",
                           "mlp", "--max-steps", "2", "--no-progress", "--eval-features", not_script,
                           "--out", tmp_path / "img-run")
    line = assert_one_line_error(code, err, "--eval-features")
    assert "--features " not in line and not (tmp_path / "img-run").exists()

    small = tmp_path / "small-idx3-ubyte"
    small.write_bytes(idx_bytes(np.zeros((5, 4, 4), np.uint8)))
    code, _, err = run_cli(capsys, "dims", f"idx:{small}")
    line = assert_one_line_error(code, err, "has only")
    assert "-n " not in line

    monkeypatch.setattr(sys, "stdout", None)  # started with stdout closed (>&-)
    with pytest.raises(SystemExit) as exit_info:
        from maskaae_cli.cli.app import main

        main(["inspect", str(run)])
    assert exit_info.value.code == 2
