from dataclasses import dataclass
from typing import Optional

import pytest

from factorbench.config import config_diff, config_from_dict
from factorbench.errors import FactorbenchError
from factorbench.seeding import stage_seed


@dataclass
class Example:
    size: int = 1
    rate: float = 0.5
    name: str = "x"
    extra: Optional[int] = None


def test_unknown_key_is_an_error_naming_allowed_keys():
    with pytest.raises(FactorbenchError, match=r"unknown key\(s\) sise; allowed: extra, name, rate, size"):
        config_from_dict(Example, {"sise": 3})


def test_types_are_checked_and_ints_promote_to_float():
    assert config_from_dict(Example, {"rate": 2}).rate == 2.0
    assert isinstance(config_from_dict(Example, {"rate": 2}).rate, float)
    with pytest.raises(FactorbenchError, match="expected int"):
        config_from_dict(Example, {"size": "3"})
    assert config_from_dict(Example, {"extra": None}).extra is None
    for bad in ("abc", True, [1.0]):  # --set rate=abc arrives as a string: one line naming field and type
        with pytest.raises(FactorbenchError, match=r"Example.rate: expected a number, got"):
            config_from_dict(Example, {"rate": bad})


def test_config_diff_lists_changed_fields():
    assert config_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": (2, 3), "c": (None, 4)}


def test_stage_seeds_are_stable_and_distinct():
    assert stage_seed(0, "train/init") == stage_seed(0, "train/init")
    seeds = {stage_seed(m, s) for m in range(3) for s in ("train/init", "train/noise", "eval/x")}
    assert len(seeds) == 9
    assert all(0 <= s < 2**31 for s in seeds)


# --------------------------------------------------------------------------- ranges (issue 18, item 9)

def _model_configs():
    import dataclasses

    from factorbench.models import MODELS

    for name in MODELS.names():
        cls = MODELS.get(name).config_class
        yield name, cls, {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("key,value,expected", [
    ("lr", -1, r"lr must not be negative"),
    ("adam_beta1", 1.5, r"adam_beta1 must be in \[0, 1\), got 1\.5"),
    ("adam_beta2", 1.0, r"adam_beta2 must be in \[0, 1\), got 1\.0"),
    ("base_channels", 0, r"base_channels must be (at least 1|positive)"),
])
def test_every_model_config_checks_optimiser_and_width_ranges(key, value, expected):
    checked = 0
    for name, cls, fields in _model_configs():
        if key not in fields:
            continue
        with pytest.raises(FactorbenchError, match=expected) as excinfo:
            config_from_dict(cls, {key: value}, where=f"model {name}")
        assert "\n" not in str(excinfo.value)
        checked += 1
    assert checked >= 3  # vae, bfvae, the GANs, SAID all have it


def test_missing_required_key_and_non_table_are_one_line():
    @dataclass
    class Needs:
        name: str
        size: int = 1

    with pytest.raises(FactorbenchError, match=r"where: missing key\(s\) name"):
        config_from_dict(Needs, {"size": 2}, where="where")
    with pytest.raises(FactorbenchError, match=r"where: expected a table of settings \(key = value\), got 'abc'"):
        config_from_dict(Needs, "abc", where="where")
    with pytest.raises(FactorbenchError, match=r"where.rate: expected a number, got 'x'"):
        config_from_dict(Example, {"rate": "x"}, where="where")
