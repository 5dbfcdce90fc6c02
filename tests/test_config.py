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
        with pytest.raises(FactorbenchError, match=r"Example.rate: expected float, got"):
            config_from_dict(Example, {"rate": bad})


def test_config_diff_lists_changed_fields():
    assert config_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {"b": (2, 3), "c": (None, 4)}


def test_stage_seeds_are_stable_and_distinct():
    assert stage_seed(0, "train/init") == stage_seed(0, "train/init")
    seeds = {stage_seed(m, s) for m in range(3) for s in ("train/init", "train/noise", "eval/x")}
    assert len(seeds) == 9
    assert all(0 <= s < 2**31 for s in seeds)
