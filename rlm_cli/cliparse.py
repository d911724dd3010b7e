"""Option values converted without pydantic, so `--help`, `--version`, `--dry-run` and `config` never load it.

Typer converts each value through a pydantic TypeAdapter, built on the first parse of each option, even a
`--help` flag left unset; importing pydantic and building the adapters costs more than everything else
`rlm ask --help` does. Every option of rlm is read by its own parser, or is a str, int, float or bool (or
a list of them) with at most a min or max, or one choice of an Enum, which a few lines convert as typer
would, with its error type and wording. Any other option (a Path) is handed to typer's own converter the
first time it carries a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, get_args, get_origin

from typer._click import Context, Parameter
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam, build_runtime_param

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}
_INVALID = {
    int: "Input should be a valid integer, unable to parse string as an integer",
    float: "Input should be a valid number, unable to parse string as a number",
    bool: "Input should be a valid boolean, unable to interpret input",
}


def _to_bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(text)


_CONVERT = {str: str, int: int, float: float, bool: _to_bool}


@dataclass(frozen=True)
class PlainParam(RuntimeParam):
    """Converts plain values, and lists of them, checking the option's min and max."""

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        many = get_origin(self.annotation) is list
        kind = get_args(self.annotation)[0] if many else self.annotation
        info = self.parameter_info
        if info.parser is not None:  # the option's own parser, called as typer would, without pydantic around it
            return [self._parse(item) for item in value] if many else self._parse(value)
        if isinstance(kind, type) and issubclass(kind, Enum) and not many:
            return self._choice(kind, value, param, ctx)
        if kind not in _CONVERT or getattr(info, "click_type", None) or info.clamp:
            runtime = build_runtime_param(param.type_descriptor)
            param._runtime_param = runtime  # from now on, typer's own converter
            return runtime._coerce_value(value, param=param, ctx=ctx)
        if many:
            return [
                self._one(kind, item, param, ctx) for item in (value if isinstance(value, list | tuple) else [value])
            ]
        return self._one(kind, value, param, ctx)

    def _parse(self, value: Any) -> Any:
        try:
            return self.parameter_info.parser(value)  # type: ignore[misc]
        except ValueError as exc:  # a BadParameter from the parser passes as it is; click names the option
            raise BadParameter(f"Value error, {exc}") from None

    def _choice(self, kind: type[Enum], value: Any, param: Any, ctx: Context) -> Enum:
        """A single choice among an Enum's values, in any case unless the option is case-sensitive."""
        if isinstance(value, kind):
            return value
        fold = (lambda text: text) if self.parameter_info.case_sensitive else str.casefold
        for member in kind:
            if fold(str(member.value)) == fold(str(value)):
                return member
        choices = ", ".join(repr(member.value) for member in kind)
        raise BadParameter(f"Value error, {value!r} is not one of {choices}", ctx=ctx, param=param)

    def _one(self, kind: type, value: Any, param: Any, ctx: Context) -> Any:
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            converted = value
        else:
            try:
                converted = _CONVERT[kind](value)
            except (TypeError, ValueError):
                raise BadParameter(_INVALID[kind], ctx=ctx, param=param) from None
        info = self.parameter_info
        if info.min is not None and converted < info.min:
            raise BadParameter(f"Input should be greater than or equal to {info.min}", ctx=ctx, param=param)
        if info.max is not None and converted > info.max:
            raise BadParameter(f"Input should be less than or equal to {info.max}", ctx=ctx, param=param)
        return converted


class LightParams:
    """Mixin for typer commands and groups: their options are converted by PlainParam."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        params: list[Parameter] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            descriptor = getattr(param, "type_descriptor", None)
            # Only typer's parameters not converted yet; with a typer whose internals differ, typer does it all.
            if descriptor is not None and getattr(param, "_runtime_param", False) is None:
                param._runtime_param = PlainParam(descriptor.parameter_info, descriptor.annotation)  # type: ignore[attr-defined]
        return params
