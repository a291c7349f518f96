"""The command-line options that come from the config: declared once, the same in every command."""

from __future__ import annotations

import inspect
from pathlib import Path

import typer

from maskaae_cli.cli import dims as dims_cli
from maskaae_cli.cli import sweep as sweep_cli
from maskaae_cli.cli import train as train_cli
from maskaae_cli.cli.app import _register, app
from maskaae_cli.config import OPTION, SECTION_TYPES, option_fields
from maskaae_cli.presets import config_overrides


def click_options(name: str) -> dict[str, object]:
    _register()
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params}


def test_each_option_states_its_fields_default_once():
    for name, (_, f) in option_fields().items():
        opt = f.metadata[OPTION]
        assert "(default:" not in opt.help, name  # the help's "(default: ...)" is made from the field
        text = opt.help_text(f.default)
        if opt.default_text == "":
            assert text.endswith(f"(default: {f.default})"), name
    train = click_options("train")
    assert train["max_steps"].help.endswith(f"(default: {SECTION_TYPES['train']().max_steps})")


def test_train_sweep_and_dims_share_each_options_definition():
    train, sweep, dims = (click_options(n) for n in ("train", "sweep-m", "dims"))
    dims = {n: p for n, p in dims.items() if p.rich_help_panel == dims_cli.DATA_PANEL}  # not its own --seed
    sweep = {n: p for n, p in sweep.items() if p.rich_help_panel == sweep_cli.TRAIN_PANEL}
    assert set(train) - {"recipe", "resume", "help"} == set(option_fields())
    assert set(sweep) == set(train) - set(sweep_cli.OWNED) - {"resume"}
    assert set(dims) == {n for n, (s, _) in option_fields().items() if s == "data"} - set(
        dims_cli.NOT_DIMS_OPTIONS)
    for name, p in train.items():
        for other in (sweep, dims):
            if name in other and name != "help" and name in option_fields():
                q = other[name]
                assert (q.opts, q.secondary_opts, q.help, q.default) == (
                    p.opts, p.secondary_opts, p.help, p.default), name


def test_an_option_not_given_leaves_the_presets_value():
    fields = option_fields()
    given = {name: None for name in fields} | {"overwrite": False, "compile": False, "progress": True}
    overrides = config_overrides(given)
    assert {k: v for s in overrides.values() for k, v in s.items() if v is not None} == {"progress": True}
    assert config_overrides({"compile": True, "download": False, "out": Path("r")}) == {
        "train": {"compile": True, "out": "r"}, "data": {"download": False}}


def test_the_train_command_takes_the_fields_by_name():
    params = inspect.signature(train_cli.train).parameters
    for name, (section, _) in option_fields().items():
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and hasattr(SECTION_TYPES[section](), name)
