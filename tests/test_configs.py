"""config_from_dict: the one way every config dataclass is read back from JSON."""

import json
from dataclasses import dataclass

import pytest

from micrograd_plus._plumbing.configs import config_from_dict
from micrograd_plus.models.gpt import GPTConfig
from micrograd_plus.train.errors import ConfigError
from micrograd_plus.train.gpt import TrainConfig
from micrograd_plus.train.mnist import MNISTConfig


@dataclass(frozen=True)
class Toy:
    steps: int = 3
    rate: float = 0.5
    name: str = "toy"
    on: bool = False
    sizes: tuple = (4,)
    limit: int | None = None


def test_missing_fields_take_their_defaults_and_ints_are_fine_floats():
    assert config_from_dict(Toy, {"rate": 1, "sizes": [2, 2]}) == Toy(rate=1, sizes=[2, 2])
    assert config_from_dict(Toy, {"limit": None}) == Toy()


@pytest.mark.parametrize("d, words", [
    ({"steps": "3"}, "Toy.steps must be an integer, got '3'"),
    ({"steps": True}, "Toy.steps must be an integer, got True"),
    ({"steps": 2.0}, "Toy.steps must be an integer, got 2.0"),
    ({"rate": float("nan")}, "Toy.rate must be a finite number, got nan"),
    ({"on": 1}, "Toy.on must be true or false, got 1"),
    ({"name": None}, "Toy.name must be a string, got None"),
    ({"sizes": 4}, "Toy.sizes must be a list, got 4"),
    ({"limit": "all"}, "Toy.limit must be an integer (or null), got 'all'"),
    ({"colour": "red"}, "Toy.from_dict: unknown keys ['colour']"),
])
def test_a_bad_field_is_one_line_naming_it(d, words):
    with pytest.raises(ValueError) as info:
        config_from_dict(Toy, d)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_not_a_dict_and_the_error_class():
    with pytest.raises(ConfigError, match="Toy must be read from a dict of its fields, got list"):
        config_from_dict(Toy, [1, 2], error=ConfigError)


@pytest.mark.parametrize("cls, error", [(GPTConfig, ValueError), (TrainConfig, ConfigError),
                                        (MNISTConfig, ConfigError)])
def test_every_config_round_trips_through_json_and_checks_with_the_helper(cls, error):
    config = cls()
    assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    first = next(iter(config.to_dict()))
    with pytest.raises(error, match=rf"{cls.__name__}\.{first} must be"):
        cls.from_dict({first: "x"})  # the first field of each is a number or a list of sizes
    with pytest.raises(error, match="unknown keys"):
        cls.from_dict({"colour": "red"})
