"""The dataset registry: every dataset in one entry, and a new one is one entry plus a preset."""

from __future__ import annotations

import pytest
import torch
from torchvision import datasets

from maskaae_cli.config import Config, DataConfig
from maskaae_cli.data import MaskAAEDataModule
from maskaae_cli.data.registry import (
    DATASETS,
    Dataset,
    closest_builtin,
    dataset_choices,
    lookup,
    preset_names,
    register_dataset,
)
from maskaae_cli.data.splits import Splits
from maskaae_cli.errors import UserError
from maskaae_cli.presets import build_config, choose_preset
from maskaae_cli.recipe import bundled_recipes


def test_every_preset_belongs_to_one_dataset():
    assert sorted(preset_names()) == sorted(bundled_recipes())
    assert len(preset_names()) == len(set(preset_names()))


def test_the_urls_given_for_a_missing_dataset_are_torchvisions():
    assert DATASETS["mnist"].url == datasets.MNIST.mirrors[0]
    assert DATASETS["fashion-mnist"].url == datasets.FashionMNIST.mirrors[0]
    assert DATASETS["cifar10"].url == datasets.CIFAR10.url


@pytest.mark.parametrize("name", [n for n, d in DATASETS.items() if not d.at_path])
def test_each_built_in_dataset_has_what_the_cli_needs(name):
    d = lookup(name)
    assert d.presets and d.splits and d.title
    assert d.downloads == bool(d.missing) == bool(d.url)  # a download that fails says what to do instead
    assert name in dataset_choices()
    Config.from_dict({"data": {"dataset": name}}).validate()


def test_data_at_a_path_is_found_by_its_prefix(tmp_path):
    assert lookup(f"folder:{tmp_path}").name == "folder:" and lookup("idx:x.gz").name == "idx:"
    with pytest.raises(UserError, match="unknown dataset 'imagenet': use one of synthetic"):
        lookup("imagenet")


@pytest.mark.parametrize(("shape", "closest"), [
    ((1, 28, 28), "mnist"), ((1, 64, 64), "mnist"), ((3, 16, 16), "cifar10"), ((3, 32, 32), "cifar10"),
    ((3, 48, 48), "cifar10"), ((3, 49, 49), "celeba"), ((3, 64, 64), "celeba"), ((3, 128, 128), "celeba"),
])
def test_the_closest_built_in_dataset_by_channels_then_size(shape, closest):
    assert closest_builtin(shape).name == closest


def test_synthetic_shape_comes_from_the_config_without_generating_the_data():
    dm = MaskAAEDataModule(DataConfig(data_dim=7))
    assert dm.data_shape == (7,) and not dm.is_image and dm.train_data is None


def load_tiny(dataset: Dataset, cfg: DataConfig, notes: list[str]) -> Splits:
    """A loader as a new dataset's module would hold it: 20 / 5 / 5 grey 4x4 images."""
    notes.append("tiny: made up in the test")
    images = torch.arange(30 * 16, dtype=torch.uint8).view(30, 1, 4, 4)
    return Splits(images[:20], images[20:25], images[25:])


def test_a_new_dataset_is_one_entry_and_a_preset():
    entry = register_dataset(Dataset("tiny", "Tiny", f"{__name__}:load_tiny", lambda c: (1, 4, 4),
                                     "made up", presets=("mnist",), cpu_preset="mnist-cpu"))
    try:
        assert choose_preset("tiny", on_gpu=False).name == "mnist-cpu"
        cfg, line = build_config(None, {"data": {"dataset": "tiny"}, "train": {"accelerator": "cpu"}})
        assert line.startswith("preset mnist-cpu:") and cfg.data.dataset == "tiny"
        dm = MaskAAEDataModule(cfg.data)
        assert dm.is_image and dm.data_shape == entry.shape(cfg.data) == (1, 4, 4)
        assert [len(s) for s in (dm.train_data, dm.val_data, dm.test_data)] == [20, 5, 5]
        assert dm.notes == ["tiny: made up in the test"]
        with pytest.raises(ValueError, match="registered already"):
            register_dataset(entry)
    finally:
        del DATASETS["tiny"]
