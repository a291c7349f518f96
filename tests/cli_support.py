"""Helpers for the tests of the commands: run the CLI in-process, tiny image checkpoints, and FID's
parts with a tiny extractor in place of Inception."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from maskaae_cli.cli.app import main
from maskaae_cli.config import Config
from maskaae_cli.metrics import fid
from maskaae_cli.metrics.features import FeatureSpace
from maskaae_cli.metrics.fid import FidResult
from maskaae_cli.model import MaskAAE

IMAGE_SHAPE = (1, 8, 8)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``maskaae ARGS`` through the real entry point; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    old = sys.argv
    sys.argv = ["maskaae", *map(str, args)]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def fid_of(fake: Iterable[torch.Tensor], real: torch.Tensor, space: FeatureSpace, *, batch_size: int = 500,
           cache: Path | None = None, kid: bool = False, prc: bool = False) -> FidResult:
    """FID of ``fake`` batches against ``real`` in ``space`` the way `maskaae fid` computes it: the real
    side from ``cache`` when it holds this very data (else computed and cached), then the generated side."""
    need = kid or prc
    side = fid.cached_real(real, cache, need) or fid.compute_real(real, space, batch_size, cache, need)
    return fid.compare(fid.summarise(space, fake, need), side, space.name, kid, prc)


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit code 2, one line on stderr starting with 'error:', no traceback; returns the line."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def make_image_checkpoint(path: Path, m: int = 4, seed: int = 0, dataset: str = "mnist") -> Path:
    """A tiny untrained image MaskAAE (1x8x8, MLP nets) saved the way load_model reads it."""
    torch.manual_seed(seed)
    cfg = Config.from_dict({"data": {"dataset": dataset},
                            "model": {"m": m, "hidden": 16, "depth": 1, "critic_hidden": 8,
                                      "critic_depth": 1, "arch": "mlp"}})
    model = MaskAAE(cfg, data_shape=IMAGE_SHAPE, is_image=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "global_step": 0}, path)
    return path


def real_images(n: int, seed: int = 1) -> torch.Tensor:
    """uint8 (n, 1, 8, 8) 'real' images: smooth blobs, so they differ from the untrained model's."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    centre = torch.rand(n, 2, generator=g) * 8
    d2 = (yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2
    return (255 * torch.exp(-d2 / 6)).round().to(torch.uint8).unsqueeze(1)


class TinyExtractor(FeatureExtractorBase):
    """A fixed random projection of the pixels: a stand-in for Inception that counts its inputs."""

    images_seen = 0

    def __init__(self, name: str, features_list: list[str], **kwargs: object) -> None:
        super().__init__(name, features_list)
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(3 * 8 * 8, 12, generator=g) / 8)

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("12",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "12"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        TinyExtractor.images_seen += len(x)
        return (torch.tanh(x.flatten(1).double() / 255 @ self.w.double()).float(),)
