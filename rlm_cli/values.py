"""Numbers, sizes and durations as people type them, read and range-checked the same way from every source.

A flag, an RLM_* variable and a config file all go through `Value.parse`, so `50M`, `1GiB` or `2m` mean the
same thing everywhere, and a value out of range gets the same message wherever it was written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

# Sizes count characters or bytes: K, M, G are powers of 1000 (the defaults read 50M and 1G), KiB... of 1024.
SIZE_UNITS = {
    "": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?(?:\d[\d_]*(?:\.\d+)?|\.\d+))\s*([A-Za-z]*)\s*$")

Kind = Literal["int", "float", "size", "duration"]
_SHAPES = {
    "int": "a whole number",
    "float": "a number",
    "size": "a size (a number with an optional K, M, G, KiB, MiB or GiB suffix, e.g. 50M)",
    "duration": "a duration (seconds, or a number with ms, s, m or h, e.g. 90 or 2m)",
}


@dataclass(frozen=True)
class Value:
    """How one numeric setting is read, and the range it must fall in.

    `unit` is what a plain number counts, for sizes given in MiB or MB (`--memory-limit 512` is 512 MiB,
    `--memory-limit 2GiB` is 2048). `above` makes the minimum itself invalid: a timeout of 0 is no timeout.
    """

    kind: Kind
    min: float = 0
    above: bool = False
    unit: int = 1

    def parse(self, raw: Any) -> int | float:
        """The value as a number in range; ValueError with the message a user sees, whatever the source."""
        number = self._read(raw)
        too_low = number <= self.min if self.above else number < self.min
        if too_low:
            raise ValueError(f"must be {self.describe()}, got {_shown(raw)}")
        return number

    def describe(self) -> str:
        """The allowed range, as help and errors say it: '1 or more', 'more than 0'."""
        low = f"{self.min:g}"
        unit = " s" if self.kind == "duration" else ""
        return f"more than {low}{unit}" if self.above else f"{low}{unit} or more"

    def _read(self, raw: Any) -> int | float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(self._not_a(raw))
        if isinstance(raw, str):
            match = _NUMBER_WITH_UNIT.match(raw)
            units = {"size": SIZE_UNITS, "duration": DURATION_UNITS}.get(self.kind, {"": 1})
            suffix = match.group(2).lower() if match else ""
            if match is None or suffix not in units:
                raise ValueError(self._not_a(raw))
            number = float(match.group(1).replace("_", "")) * units[suffix]
            if self.kind == "size" and suffix:
                number /= self.unit  # a suffix counts bytes; a plain number is already in this setting's unit
        elif math.isfinite(raw):
            number = float(raw)
        else:
            raise ValueError(self._not_a(raw))
        if self.kind in ("float", "duration"):
            return number
        if self.kind == "int" and not number.is_integer():
            raise ValueError(self._not_a(raw))
        return math.ceil(number)  # 1.5M characters is 1,500,000; 1G in MiB is 954, rounded up

    def _not_a(self, raw: Any) -> str:
        return f"{_shown(raw)} is not {_SHAPES[self.kind]}"


def _shown(raw: Any) -> str:
    """'0' whether it came as text from a flag or as a number from TOML, so the message is the same."""
    return f"'{raw}'"
