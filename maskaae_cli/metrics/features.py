"""Feature spaces for Frechet distances: raw vectors, or a torch-fidelity image feature extractor.

A feature space maps a batch of samples (float vectors, or images in [0, 1] / uint8) to a
(B, D) feature matrix. ``FEATURE_SPACES`` is the registry the CLI's ``--features`` draws
from; tests register a small extractor there in place of Inception.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from maskaae_cli.errors import UserError
from maskaae_cli.metrics.feature_check import CheckedFeatures
from maskaae_cli.sampling import to_uint8

INCEPTION = "inception"


class FeatureSpace(Protocol):
    """Maps a batch of samples to a (B, D) float tensor on the CPU; ``name`` keys the stats cache."""

    name: str

    def __call__(self, batch: torch.Tensor) -> torch.Tensor: ...


class RawFeatures:
    """The data vectors themselves (the paper's measure on synthetic data); uint8 images are read
    as [0, 1], the scale of generated images, so real and generated pixels compare."""

    name = "raw"

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        flat = batch.reshape(len(batch), -1).to(torch.float64)
        return flat / 255.0 if batch.dtype == torch.uint8 else flat


class FidelityFeatures:
    """One layer of a torch-fidelity feature extractor, fed uint8 RGB images as it expects.

    Float images in [0, 1] are rounded to uint8 as a PNG file would store them; grey
    images are repeated to three channels.
    """

    def __init__(self, extractor: FeatureExtractorBase, layer: str,
                 device: torch.device | str = "cpu") -> None:
        self.extractor = extractor.to(device).eval()
        self.layer = layer
        self.device = torch.device(device)
        self.name = f"{extractor.get_name()}-{layer}"

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = to_uint8(batch)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise UserError(f"image features need (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        out = self.extractor(x.to(self.device))
        return self.extractor.convert_features_tuple_to_dict(out)[self.layer].cpu()


# ----------------------------------------------------------------- Inception-v3
def inception_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def inception_weights_file() -> Path:
    """Where torch.hub keeps (and torch-fidelity looks for) the Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / inception_url().rsplit("/", 1)[-1]


def ensure_inception_weights(weights: Path | None = None) -> Path:
    """The weights file: ``weights`` if given, else the torch.hub cache (downloaded when missing)."""
    if weights is not None:
        if not weights.is_file():
            raise UserError(f"--inception-weights {weights}: no such file")
        return weights
    target = inception_weights_file()
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stderr(io.StringIO()):
            torch.hub.download_url_to_file(inception_url(), str(target), progress=False)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, a read-only cache...
        reason = str(getattr(exc, "reason", exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"Inception-v3 weights {target.name} are missing and could not be downloaded "
                        f"({reason}): download {inception_url()} and place it in {target.parent}/ "
                        "(or pass --inception-weights FILE)") from exc
    return target


def inception_features(device: torch.device | str = "cpu", weights: Path | None = None) -> FidelityFeatures:
    """torch-fidelity's TF-Inception port ('inception-v3-compat'), pool3 layer '2048'."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = ensure_inception_weights(weights)
    try:  # refuse anything but tensors before torch-fidelity unpickles the file itself
        torch.load(path, map_location="cpu", weights_only=True)
        extractor = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                feature_extractor_weights_path=str(path))
    except Exception as exc:
        if weights is not None:  # the user's file: never advise deleting it
            raise UserError(f"cannot load Inception-v3 weights from --inception-weights {path} "
                            f"({type(exc).__name__}): it is not an Inception-v3 weights file; give the file "
                            f"{inception_url()} downloads") from exc
        raise UserError(f"cannot load Inception-v3 weights from {path} ({type(exc).__name__}); delete "
                        f"the file and download it again from {inception_url()}") from exc
    return FidelityFeatures(extractor, "2048", device)


# ------------------------------------------------------------- a user's TorchScript
class TorchScriptFeatures:
    """Any TorchScript module that maps float images in [0, 1], (N, C, H, W), to (N, D) features.

    ``name`` holds the file's SHA-256 prefix, so cached real-data statistics follow the file's
    content, not its path.
    """

    def __init__(self, path: Path, device: torch.device | str = "cpu", option: str = "--features") -> None:
        data = path.read_bytes()
        self.path, self.option = path, option
        self.device = torch.device(device)
        self.name = f"torchscript-{hashlib.sha256(data).hexdigest()[:16]}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit's deprecation notice
                self.module = torch.jit.load(io.BytesIO(data), map_location=self.device).eval()
        except Exception as exc:  # torch.jit.load reports a non-TorchScript file as many types
            raise UserError(f"{option} {path} is not a TorchScript module ({type(exc).__name__}): save "
                            "one with torch.jit.save(torch.jit.script(model), FILE)") from exc

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float().div(255.0) if batch.dtype == torch.uint8 else batch.float()
        try:
            out = self.module(x.to(self.device))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{self.option} {self.path} failed on a batch of shape {tuple(x.shape)} "
                            f"({first}): it must take float images in [0, 1] of that shape") from exc
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(x):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise UserError(f"{self.option} {self.path} returned {shape} for {len(x)} images: it must "
                            f"return one feature vector per image, shape ({len(x)}, D)")
        return out.detach().to("cpu", torch.float64)


def looks_like_path(name: str) -> bool:
    """A --features value that names a file rather than a registered feature space."""
    return "/" in name or "\\" in name or name.endswith((".pt", ".pth", ".ts", ".jit"))


# --------------------------------------------------------------------- registry
FeatureBuilder = Callable[[torch.device], FeatureSpace]
FEATURE_SPACES: dict[str, FeatureBuilder] = {
    "raw": lambda device: RawFeatures(),
    INCEPTION: inception_features,
}


def register_feature_space(name: str, builder: FeatureBuilder) -> None:
    """Make ``--features NAME`` build its feature space with ``builder(device)``."""
    FEATURE_SPACES[name] = builder


def build_feature_space(name: str, device: torch.device | str = "cpu",
                        inception_weights: Path | None = None, option: str = "--features") -> FeatureSpace:
    """The feature space registered under ``name``; its output checked (:mod:`.feature_check`)."""
    if name == "raw":
        return FEATURE_SPACES["raw"](torch.device(device))
    return CheckedFeatures(_build(name, device, inception_weights, option), f"{option} {name}")


def _build(name: str, device: torch.device | str, inception_weights: Path | None,
           option: str) -> FeatureSpace:
    if name == INCEPTION and inception_weights is not None:
        return inception_features(device, inception_weights)
    if name not in FEATURE_SPACES:
        path = Path(name).expanduser()
        if path.is_file():
            return TorchScriptFeatures(path, device, option)
        if looks_like_path(name):
            raise UserError(f"{option} {name}: no such file (give a TorchScript feature extractor)")
        raise UserError(f"unknown {option} {name!r}: use one of {', '.join(FEATURE_SPACES)}, "
                        "or a TorchScript file")
    return FEATURE_SPACES[name](torch.device(device))


def eval_feature_space(name: str, device: torch.device | str = "cpu"
                       ) -> tuple[FeatureSpace | None, str | None]:
    """The feature space an image run evaluates in (``--eval-features``), and a notice when none.

    ``none``: no evaluation. ``inception``: only where its weights are already on disk (a run never
    waits on a download); otherwise no evaluation and a notice that says how to get one. Anything
    else is a TorchScript file (a bad one is a :class:`UserError`).
    """
    if name == "none":
        return None, None
    if name == INCEPTION:
        weights = inception_weights_file()
        if not weights.is_file():
            return None, (f"no Frechet distance during training: the Inception-v3 weights are not in "
                          f"{weights.parent}/ (download {inception_url()} there, or pass "
                          "--eval-features FILE with a TorchScript feature extractor, or none)")
        return CheckedFeatures(inception_features(device, weights), f"--eval-features {name}"), None
    return build_feature_space(name, device, option="--eval-features"), None
