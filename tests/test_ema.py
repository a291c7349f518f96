"""The moving average of the decoder and mask that generation uses (optim.ema_decay)."""

import csv

import pytest
import torch
from cli_support import run_cli
from helpers import tiny_config

from maskaae_cli.checkpoint import load_model
from maskaae_cli.model import MaskAAE
from maskaae_cli.training import train


def test_average_follows_the_ema_recursion_and_generation_uses_it(tmp_path):
    torch.manual_seed(0)
    decay = 0.5
    model = MaskAAE(tiny_config(tmp_path, optim={"ema_decay": decay}), (16,), is_image=False)
    name, w = next(iter(model.decoder.named_parameters()))
    expected, expected_beta = None, None
    for k in range(3):
        with torch.no_grad():
            w.add_(1.0 + k)
            model.mask.beta.mul_(0.9)
        model.update_ema()
        # the first update copies, the next ones lerp towards the current weights
        expected = w.detach().clone() if expected is None else decay * expected + (1 - decay) * w.detach()
        beta = model.mask.beta.detach()
        expected_beta = beta.clone() if expected_beta is None else decay * expected_beta + (1 - decay) * beta
    decoder, mask = model.generator()
    averaged_w = dict(decoder.named_parameters())[name]
    assert torch.allclose(averaged_w, expected) and not torch.allclose(averaged_w, w)
    assert torch.allclose(mask.beta, expected_beta)
    p = torch.randn(5, 6)
    assert torch.equal(model.generate(p), decoder(mask(p)))
    assert torch.equal(model.generate(p, averaged=False), model.decoder(model.mask(p)))
    assert not torch.equal(model.generate(p), model.generate(p, averaged=False))
    assert not any(q.requires_grad for q in model.ema.parameters())  # no optimiser, no DDP sync


def test_short_runs_cap_the_decay(tmp_path):
    cfg = tiny_config(tmp_path, optim={"ema_decay": 0.999})
    assert cfg.optim.ema_decay_for(12_000) == 0.999  # long runs: as given
    assert cfg.optim.ema_decay_for(500) == 0.99  # time constant 100 = a fifth of the run
    assert cfg.optim.ema_decay_for(3) == 0.0
    decay = 0.999
    model = MaskAAE(cfg, (16,), is_image=False)  # 20 steps: capped at 0.75
    name, w = next(iter(model.decoder.named_parameters()))
    model.update_ema()
    first = w.detach().clone()
    with torch.no_grad():
        w.add_(1.0)
    model.update_ema()
    averaged = dict(model.generator()[0].named_parameters())[name]
    assert torch.allclose(averaged, 0.75 * first + 0.25 * w.detach())
    assert not torch.allclose(averaged, decay * first + (1 - decay) * w.detach())


def test_fast_update_matches_torch_averaged_model_bit_for_bit(tmp_path):
    """update_ema's cached foreach path gives exactly what AveragedModel.update_parameters gives,
    including BatchNorm buffers of the conv decoder."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, model={"arch": "conv", "conv_channels": 8}, optim={"ema_decay": 0.9},
                      train={"max_steps": 1000})  # long enough to keep 0.9
    model = MaskAAE(cfg, (1, 32, 32), is_image=True)
    reference = AveragedModel(model._generator_parts(), multi_avg_fn=get_ema_multi_avg_fn(0.9),
                              use_buffers=True)
    model.decoder.train()
    for _ in range(4):
        with torch.no_grad():
            for p in model._generator_parts().parameters():
                p.add_(torch.randn_like(p))
            model.decoder(torch.randn(4, 6))  # moves the BatchNorm running statistics
        model.update_ema()
        reference.update_parameters(model._generator_parts())
    assert int(model.ema.n_averaged) == int(reference.n_averaged) == 4
    for (name, a), b in zip(model.ema.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_wae_average_holds_the_decoder_only(tmp_path):
    model = MaskAAE(tiny_config(tmp_path, model={"model": "wae"}, optim={"ema_decay": 0.9}),
                    (16,), is_image=False)
    model.update_ema()
    decoder, mask = model.generator()
    assert decoder is not model.decoder and mask is model.mask  # alpha stays fixed at 1
    assert torch.isfinite(model.sample(4)).all()


def test_off_at_zero_and_before_the_first_update(tmp_path):
    assert tiny_config(tmp_path).optim.ema_decay == 0.999  # on by default
    model = MaskAAE(tiny_config(tmp_path, optim={"ema_decay": 0.0}), (16,), is_image=False)
    assert model.ema is None and model.generator() == (model.decoder, model.mask)
    on = MaskAAE(tiny_config(tmp_path, optim={"ema_decay": 0.9}), (16,), is_image=False)
    assert on.generator() == (on.decoder, on.mask)  # nothing averaged yet


@pytest.mark.slow
def test_training_path_is_unchanged_and_checkpoint_keeps_the_average(tmp_path):
    plain = train(tiny_config(tmp_path / "plain", optim={"ema_decay": 0.0}))
    averaged = train(tiny_config(tmp_path / "ema", optim={"ema_decay": 0.9}))
    a, b = load_model(tmp_path / "plain"), load_model(tmp_path / "ema")
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=False):
        assert torch.equal(p, q), name  # the average never feeds back into training
    assert averaged["frechet_distance_raw"] == plain["frechet_distance"]
    assert averaged["frechet_distance"] != plain["frechet_distance"]
    assert "frechet_distance_raw" not in plain and averaged["ema_decay"] == 0.75  # 20 steps: capped
    # the reloaded model generates with the average, exactly as the run did
    assert b.ema is not None and int(b.ema.n_averaged) == 20
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert not torch.equal(b.sample(8, g1), a.sample(8, g2))
    rows = list(csv.DictReader((tmp_path / "ema" / "metrics.csv").open()))
    raw = [float(r["val/frechet_raw"]) for r in rows if r.get("val/frechet_raw")]
    plain_rows = list(csv.DictReader((tmp_path / "plain" / "metrics.csv").open()))
    assert raw == [float(r["val/frechet"]) for r in plain_rows if r.get("val/frechet")]


def test_checkpoint_without_average_loads_with_it_off(tmp_path):
    train(tiny_config(tmp_path / "old", optim={"ema_decay": 0.0}))
    ckpt = torch.load(tmp_path / "old" / "model.ckpt", weights_only=True)
    ckpt["hyper_parameters"]["config"]["optim"]["ema_decay"] = 0.999  # as a newer default would say
    torch.save(ckpt, tmp_path / "old.ckpt")
    model = load_model(tmp_path / "old.ckpt")
    assert model.ema is None


@pytest.mark.slow
def test_run_from_before_the_average_resumes_and_loads(tmp_path, capsys):
    """A checkpoint without a moving average (older maskaae, or ema_decay 0) resumes without one."""
    run = tmp_path / "run"
    train(tiny_config(run, train={"max_steps": 4, "eval_every": 4, "log_every": 2}))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(k.startswith("ema.") for k in ckpt["state_dict"])  # 4 steps: average kept, decay 0
    for key in [k for k in ckpt["state_dict"] if k.startswith("ema.")]:
        del ckpt["state_dict"][key]
    del ckpt["hyper_parameters"]["config"]["optim"]["ema_decay"]  # as maskaae wrote it before
    torch.save(ckpt, run / "checkpoints" / "last.ckpt")
    (run / "model.ckpt").unlink()
    code, _, err = run_cli(capsys, "train", "--resume", run, "--max-steps", "6", "--no-progress")
    assert code == 0, err
    model = load_model(run)
    assert model.ema is None and model.step_count == 6


def test_bad_decay_is_one_line(tmp_path, capsys):
    code, out, err = run_cli(capsys, "train", "--ema-decay", "1", "--out", tmp_path / "r")
    assert code != 0 and "--ema-decay" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r").exists()
