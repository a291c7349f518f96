from pathlib import Path

import pytest

from maskaae_cli.config import Config
from maskaae_cli.errors import UserError
from maskaae_cli.recipe import bundled_recipes, load_recipe
from maskaae_cli.schedule import MaskSchedule, reference_period


def schedule(m: int, max_steps: int, optim: dict | None = None, mask: dict | None = None) -> MaskSchedule:
    """The schedule of a config with these optim / mask fields, at m and --max-steps."""
    cfg = Config.from_dict({"optim": optim or {}, "mask": mask or {}, "model": {"m": m},
                            "train": {"max_steps": max_steps}})
    return cfg.schedule()


@pytest.mark.parametrize(("m", "t"), [(2, 75), (20, 75), (21, 2362), (32, 3600), (88, 9900), (89, 10000),
                                      (128, 10000)])
def test_reference_period(m, t):
    assert reference_period(m) == t


def test_regulariser_doubles_every_period_up_to_its_cap():
    s = MaskSchedule(c_init=0.0625, c_max=2048, double_every=100, lr_drop_step=500, lr_drop_factor=5)
    assert s.reg_weight(0) == 0.0625 and s.reg_weight(99) == 0.0625
    assert s.reg_weight(100) == 0.125 and s.reg_weight(250) == 0.25
    assert s.reg_weight(10**9) == 2048


def test_learning_rate_drop():
    s = MaskSchedule(c_init=1, c_max=2, double_every=10, lr_drop_step=500, lr_drop_factor=5)
    assert s.lr_factor(499) == 1.0 and s.lr_factor(500) == pytest.approx(0.2)


def test_mask_rate_drops_with_the_autoencoder_unless_given_its_own_step():
    s = MaskSchedule(c_init=1, c_max=2, double_every=10, lr_drop_step=500, lr_drop_factor=5)
    assert s.mask_lr_factor(499) == 1.0 and s.mask_lr_factor(500) == pytest.approx(0.2)
    late = MaskSchedule(c_init=1, c_max=2, double_every=10, lr_drop_step=500, lr_drop_factor=5,
                        mask_lr_drop_step=800)
    assert late.lr_factor(500) == pytest.approx(0.2)
    assert late.mask_lr_factor(799) == 1.0 and late.mask_lr_factor(800) == pytest.approx(0.2)


def test_budget_mask_rate_drop_is_a_fraction_of_the_run():
    s = schedule(32, 12_000, {"schedule": "budget", "lr_drop_fraction": 0.3}, {"lr_drop_fraction": 0.45})
    assert s.lr_drop_step == 3_600 and s.mask_lr_drop_step == 5_400
    assert schedule(32, 12_000, {"schedule": "budget"}, {"lr_drop_fraction": None}).mask_lr_drop_step is None


def test_reference_schedule_from_the_reference_recipe():
    from maskaae_cli.config import Config
    from maskaae_cli.recipe import load_recipe

    cfg = Config.from_dict(load_recipe("synthetic-reference"))
    assert cfg.mask.lr == pytest.approx(5e-4) and cfg.mask.rec_weight == 1000
    assert cfg.mask.start == 0 and cfg.model.m == 32
    s = cfg.schedule()  # T = 3600
    assert s.c_init == pytest.approx(2 / 32)
    assert s.double_every == 4 * 3600 and s.lr_drop_step == 5 * 3600
    assert s.c_max == 2048


def test_budget_schedule_holds_then_ramps_to_the_cap_within_its_window():
    s = schedule(32, 20_000, {"schedule": "budget", "lr_drop_fraction": 0.8},
                 {"ramp_start_fraction": 0.5, "ramp_end_fraction": 0.75})
    assert s.reg_weight(0) == s.reg_weight(9_999) == pytest.approx(2 / 32)
    assert s.reg_weight(10_000 + s.double_every) == pytest.approx(4 / 32)
    assert s.reg_weight(15_000) == 2048 and s.reg_weight(14_000) < 2048
    assert s.lr_factor(15_999) == 1.0 and s.lr_factor(16_000) == pytest.approx(1 / 5)


def test_budget_schedule_scales_with_the_run_length():
    short, long = schedule(32, 10_000, {"schedule": "budget"}), schedule(32, 40_000, {"schedule": "budget"})
    assert long.ramp_start == 4 * short.ramp_start and long.lr_drop_step == 4 * short.lr_drop_step


def test_budget_warmup_ends_by_the_ramp_in_short_runs():
    mask = {"start": 2000, "ramp_start_fraction": 0.3}
    assert schedule(32, 12_000, {"schedule": "budget"}, mask).mask_start == 2000  # ramp at 3,600: as set
    assert schedule(32, 1_000, {"schedule": "budget"}, mask).mask_start == 300  # ramp at 300: learns then
    assert schedule(32, 1_000, {"schedule": "reference"}, {"start": 2000}).mask_start == 2000


ROUNDS = Path(__file__).resolve().parent.parent / "benchmarks" / "recipes"  # experiment recipes


def test_the_presets_are_the_users_choices():
    """recipes/ holds one paper-scale preset per built-in dataset, the CPU-sized ones and the
    synthetic reference; the round-by-round experiment recipes live with the benchmarks."""
    assert sorted(bundled_recipes()) == ["celeba", "celeba-cpu", "cifar10", "cifar10-cpu", "fashion-mnist",
                                         "fashion-mnist-cpu", "mnist", "mnist-cpu", "synthetic",
                                         "synthetic-reference"]
    assert all(not n.startswith("synthetic-") or n == "synthetic-reference" for n in bundled_recipes())


@pytest.mark.parametrize("recipe", sorted(bundled_recipes()))
def test_every_shipped_preset_loads_and_validates(recipe):
    """Each preset names only known fields, with usable values, for the dataset it is named for."""
    cfg = Config.from_dict(load_recipe(recipe), recipe)
    cfg.validate()
    assert recipe == cfg.data.dataset or recipe.startswith(f"{cfg.data.dataset}-")


def test_paper_presets_share_the_reference_block():
    """fashion-mnist, cifar10 and celeba take mnist's optimiser and schedule (base: mnist) and
    differ from it only in the data and the nets."""
    mnist = Config.from_dict(load_recipe("mnist")).to_dict()
    for name, data, model in (
            ("fashion-mnist", {"dataset": "fashion-mnist"}, {}),
            ("cifar10", {"dataset": "cifar10"}, {"m": 64, "arch": "conv"}),
            ("celeba", {"dataset": "celeba", "image_size": 64}, {"m": 64, "arch": "conv"})):
        cfg = Config.from_dict(load_recipe(name)).to_dict()
        assert cfg["optim"] == mnist["optim"] and cfg["mask"] == mnist["mask"], name
        assert cfg["train"] == mnist["train"], name
        assert {k: v for k, v in cfg["data"].items() if v != mnist["data"][k]} == data, name
        assert {k: v for k, v in cfg["model"].items() if v != mnist["model"][k]} == model, name
    assert Config.from_dict(load_recipe("celeba")).data.celeba_crop == 140
    assert mnist["optim"]["schedule"] == "reference" and mnist["train"]["max_steps"] == 500_000
    assert (mnist["model"]["hidden"], mnist["model"]["depth"], mnist["mask"]["lr"]) == (1024, 4, 5e-4)


def test_the_synthetic_preset_is_the_defaults():
    """recipes/synthetic.yaml pins every default, so runs made with it stay reproducible if they move."""
    assert Config.from_dict(load_recipe("synthetic")).to_dict() == Config().to_dict()


@pytest.mark.parametrize("path", sorted(ROUNDS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_recipe_still_loads_and_validates(path):
    """The benchmarks' recipes (earlier rounds, screens) still run: their fields, old names included,
    load into the current config."""
    Config.from_dict(load_recipe(str(path)), path.name).validate()


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_mask_rate_drop_outside_the_run_is_refused(fraction):
    cfg = Config.from_dict({"mask": {"lr_drop_fraction": fraction}})
    with pytest.raises(UserError, match="mask.lr_drop_fraction"):
        cfg.validate()
    for fine in (None, 0.0, 0.45, 1.0):
        Config.from_dict({"mask": {"lr_drop_fraction": fine}}).validate()


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_an_auto_encoder_rate_drop_outside_the_run_is_refused(fraction):
    with pytest.raises(UserError, match="optim.lr_drop_fraction"):
        Config.from_dict({"optim": {"lr_drop_fraction": fraction}}).validate()
    for fine in (0.0, 0.3, 1.0):
        Config.from_dict({"optim": {"lr_drop_fraction": fine}}).validate()


def test_a_watershed_outside_zero_one_is_refused():
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(UserError, match="mask.watershed"):
            Config.from_dict({"mask": {"watershed": bad}}).validate()
