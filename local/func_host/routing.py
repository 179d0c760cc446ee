"""HTTP trigger route templates, matched the way ASP.NET Core routing does for the host.

Supported template syntax: literal segments (case-insensitive), `{name}`, optional `{name?}`,
defaults `{name=value}`, constraints `{id:int}` (several may be chained: `{id:int:min(1)}`),
catch-all `{*rest}` in the last segment, and complex segments such as `{name}.{ext}`.
When several templates match a path, the most specific wins, segment by segment: literal, then
complex, then constrained parameter, then plain parameter, then catch-all (ASP.NET's inbound
route precedence). A path that matches a route whose methods exclude the request's is simply
not a match, so the host answers 404 rather than 405 (as the real host does:
Azure/azure-functions-host#10098).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from local.func_host.route_constraints import CONSTRAINTS

Target = TypeVar("Target")

_NAME = re.compile(r"[^{}/?*:=()]+")


class RouteTemplateError(ValueError):
    """A route template the host would refuse; the message says what is wrong."""


@dataclass(frozen=True)
class RouteConstraint:
    """One inline constraint, e.g. `int` or `min(1)`, and the check it applies to a value."""

    text: str
    check: Callable[[str], bool]


@dataclass(frozen=True)
class RouteParameter:
    name: str
    constraints: tuple[RouteConstraint, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(constraint.check(value) for constraint in self.constraints)


@dataclass(frozen=True)
class _Segment:
    parts: tuple[str | RouteParameter, ...]
    pattern: re.Pattern[str]

    @property
    def parameters(self) -> list[RouteParameter]:
        return [part for part in self.parts if isinstance(part, RouteParameter)]

    @property
    def lone_parameter(self) -> RouteParameter | None:
        only = self.parts[0] if len(self.parts) == 1 else None
        return only if isinstance(only, RouteParameter) else None

    @property
    def omittable(self) -> bool:
        """True if a path may stop before this segment (optional, defaulted or catch-all)."""
        parameter = self.lone_parameter
        return parameter is not None and (
            parameter.optional or parameter.default is not None or parameter.catch_all
        )

    @property
    def precedence(self) -> int:
        parameter = self.lone_parameter
        if parameter is None:
            return 2 if self.parameters else 1
        if parameter.catch_all:
            return 5
        return 3 if parameter.constraints else 4


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[_Segment, ...]

    @property
    def precedence(self) -> tuple[int, ...]:
        """Lower sorts first; compared like ASP.NET's per-segment decimal digits."""
        return tuple(segment.precedence for segment in self.segments)

    @property
    def parameter_names(self) -> list[str]:
        return [parameter.name for segment in self.segments for parameter in segment.parameters]

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for `path` (relative to the route prefix), or None if it doesn't match."""
        trimmed = path.strip("/")
        given = trimmed.split("/") if trimmed else []
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            parameter = segment.lone_parameter
            if parameter is not None and parameter.catch_all:
                rest = "/".join(given[index:])
                if rest and not parameter.accepts(rest):
                    return None
                if rest or parameter.default is not None:
                    values[parameter.name] = rest or str(parameter.default)
                return values
            if index >= len(given):
                if not segment.omittable:
                    return None
                assert parameter is not None
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            found = _match_segment(segment, given[index])
            if found is None:
                return None
            values.update(found)
        return values if len(given) <= len(self.segments) else None


def _match_segment(segment: _Segment, text: str) -> dict[str, str] | None:
    match = segment.pattern.fullmatch(text)
    if match is None:
        return None
    values: dict[str, str] = {}
    for position, parameter in enumerate(segment.parameters):
        value = match.group(f"p{position}")
        if not parameter.accepts(value):
            return None
        values[parameter.name] = value
    return values


def parse_route_template(text: str) -> RouteTemplate:
    """Parse a function.json `route`; raise RouteTemplateError with the reason if invalid."""
    body = text.strip().removeprefix("~").strip("/")
    raw_segments = body.split("/") if body else []
    segments = [_parse_segment(raw, text) for raw in raw_segments]
    names: set[str] = set()
    for index, segment in enumerate(segments):
        for parameter in segment.parameters:
            if parameter.name.lower() in names:
                raise RouteTemplateError(
                    f"route '{text}': parameter '{parameter.name}' appears more than once"
                )
            names.add(parameter.name.lower())
            if parameter.catch_all and (
                index != len(segments) - 1 or segment.lone_parameter is None
            ):
                raise RouteTemplateError(
                    f"route '{text}': a catch-all parameter must be a whole last segment"
                )
            if parameter.optional and segment.lone_parameter is None:
                raise RouteTemplateError(
                    f"route '{text}': optional parameter '{parameter.name}' must be a whole "
                    "segment in this host"
                )
        if index > 0 and segments[index - 1].omittable and not segment.omittable:
            raise RouteTemplateError(
                f"route '{text}': an optional or defaulted segment may only be followed by "
                "other optional segments"
            )
    return RouteTemplate(text, tuple(segments))


def _parse_segment(raw: str, template: str) -> _Segment:
    if not raw:
        raise RouteTemplateError(f"route '{template}': empty segment ('//')")
    parts: list[str | RouteParameter] = []
    literal = ""
    position = 0
    while position < len(raw):
        char = raw[position]
        if raw.startswith("{{", position) or raw.startswith("}}", position):
            literal += char
            position += 2
        elif char == "{":
            end = _closing_brace(raw, position + 1)
            if end < 0:
                raise RouteTemplateError(f"route '{template}': unclosed '{{' in '{raw}'")
            if literal:
                parts.append(literal)
                literal = ""
            elif parts:
                raise RouteTemplateError(
                    f"route '{template}': two parameters in '{raw}' need a literal between them"
                )
            inner = raw[position + 1 : end].replace("{{", "{").replace("}}", "}")
            parts.append(_parse_parameter(inner, template))
            position = end + 1
        elif char in "}?":
            raise RouteTemplateError(f"route '{template}': unexpected '{char}' in '{raw}'")
        else:
            literal += char
            position += 1
    if literal:
        parts.append(literal)
    pattern = ""
    count = 0
    for part in parts:
        if isinstance(part, str):
            pattern += re.escape(part)
        else:
            pattern += f"(?P<p{count}>.+)"
            count += 1
    return _Segment(tuple(parts), re.compile(pattern, re.IGNORECASE | re.DOTALL))


def _closing_brace(raw: str, start: int) -> int:
    position = start
    while position < len(raw):
        if raw.startswith("}}", position):
            position += 2
        elif raw[position] == "}":
            return position
        else:
            position += 1
    return -1


def _parse_parameter(inner: str, template: str) -> RouteParameter:
    text = inner
    catch_all = text.startswith("*")
    text = text.lstrip("*") if catch_all else text
    name_end = _find_any(text, ":=?", 0)
    name = text[:name_end]
    if not name or not _NAME.fullmatch(name):
        raise RouteTemplateError(f"route '{template}': invalid parameter name in '{{{inner}}}'")
    position = name_end
    constraints: list[RouteConstraint] = []
    while position < len(text) and text[position] == ":":
        constraint_end = _constraint_end(text, position + 1)
        constraints.append(_make_constraint(text[position + 1 : constraint_end], template))
        position = constraint_end
    optional = False
    default: str | None = None
    if position < len(text) and text[position] == "?":
        optional = True
        position += 1
    if position < len(text) and text[position] == "=":
        if optional:
            raise RouteTemplateError(
                f"route '{template}': '{{{inner}}}' cannot be both optional and defaulted"
            )
        default = text[position + 1 :]
        position = len(text)
    if position != len(text):
        raise RouteTemplateError(f"route '{template}': cannot parse '{{{inner}}}'")
    return RouteParameter(name, tuple(constraints), optional, default, catch_all)


def _find_any(text: str, chars: str, start: int) -> int:
    for position in range(start, len(text)):
        if text[position] in chars:
            return position
    return len(text)


def _constraint_end(text: str, start: int) -> int:
    position = start
    depth = 0
    while position < len(text):
        char = text[position]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and (char in ":=" or (char == "?" and position == len(text) - 1)):
            return position
        position += 1
    return position


def _make_constraint(text: str, template: str) -> RouteConstraint:
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, re.DOTALL)
    if match is None:
        raise RouteTemplateError(f"route '{template}': cannot parse constraint '{text}'")
    name, argument = match.group(1).lower(), match.group(2)
    factory = CONSTRAINTS.get(name)
    if factory is None:
        raise RouteTemplateError(
            f"route '{template}': unknown constraint '{name}' (supported: "
            f"{', '.join(sorted(CONSTRAINTS))})"
        )
    try:
        return RouteConstraint(text, factory(argument))
    except (ValueError, re.error) as error:
        raise RouteTemplateError(f"route '{template}': bad constraint '{text}': {error}") from None


@dataclass(frozen=True)
class Route(Generic[Target]):
    """A template, the methods it answers (None = all) and what it leads to."""

    template: RouteTemplate
    methods: frozenset[str] | None
    target: Target

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch(Generic[Target]):
    target: Target
    values: Mapping[str, str]


class Router(Generic[Target]):
    """Finds the most specific route for a method and path; first registered wins a tie."""

    def __init__(self, routes: Iterable[Route[Target]]) -> None:
        indexed = list(enumerate(routes))
        indexed.sort(key=lambda item: (item[1].template.precedence, item[0]))
        self._routes = [route for _, route in indexed]

    def resolve(self, method: str, path: str) -> RouteMatch[Target] | None:
        for route in self._routes:
            if not route.allows(method):
                continue
            values = route.template.match(path)
            if values is not None:
                return RouteMatch(route.target, values)
        return None


def normalize_methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    """function.json `methods` (any case); absent or empty means every method."""
    if methods is None:
        return None
    upper = frozenset(method.upper() for method in methods)
    return upper or None
