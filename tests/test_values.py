"""Sizes, durations and ranges as `Value.parse` reads them for flags, RLM_* variables and config files alike."""

from __future__ import annotations

import pytest

from rlm_cli.config import SETTINGS
from rlm_cli.values import Value

SIZE = Value("size", 1)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1500", 1500),
        (1500, 1500),
        ("1K", 1000),
        ("1k", 1000),
        ("1KB", 1000),
        ("1KiB", 1024),
        ("50M", 50_000_000),
        ("1.5M", 1_500_000),
        ("1MiB", 1024**2),
        ("1G", 1000**3),
        ("2 GiB", 2 * 1024**3),
        ("1_000", 1000),
    ],
)
def test_sizes_take_decimal_and_binary_suffixes(text: str | int, number: int):
    assert SIZE.parse(text) == number


def test_a_size_in_mib_reads_a_plain_number_as_mib_and_a_suffix_as_bytes():
    mib = SETTINGS["memory_limit_mb"].value
    assert mib is not None
    assert (mib.parse("512"), mib.parse("2GiB"), mib.parse("1G")) == (512, 2048, 954)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), (90, 90.0), ("2m", 120.0), ("1.5h", 5400.0), ("500ms", 0.5), ("30s", 30.0)]
)
def test_durations_are_seconds_or_carry_a_unit(text: str | int, seconds: float):
    assert Value("duration", above=True).parse(text) == seconds


@pytest.mark.parametrize(
    ("value", "text", "message"),
    [
        (SIZE, "0", "must be 1 or more, got '0'"),
        (SIZE, "-2M", "must be 1 or more, got '-2M'"),
        (SIZE, "1X", "'1X' is not a size (a number with an optional K, M, G, KiB, MiB or GiB suffix, e.g. 50M)"),
        (Value("duration", above=True), "0", "must be more than 0 s, got '0'"),
        (Value("duration", above=True), "soon", "'soon' is not a duration"),
        (Value("int", 1), "1.5", "'1.5' is not a whole number"),
        (Value("int", 1), True, "'True' is not a whole number"),
        (Value("float", above=True), "nan", "'nan' is not a number"),
        (Value("float", above=True), 0.0, "must be more than 0, got '0.0'"),
    ],
)
def test_bad_values_say_what_is_wrong_with_the_value(value: Value, text: object, message: str):
    with pytest.raises(ValueError) as error:
        value.parse(text)
    assert str(error.value).startswith(message)


def test_every_numeric_setting_has_a_parser_whose_default_is_in_range():
    for name, setting in SETTINGS.items():
        if setting.type in (int, float):
            assert setting.value is not None, name
            if setting.default is not None:
                assert setting.value.parse(setting.default) == setting.default, name
