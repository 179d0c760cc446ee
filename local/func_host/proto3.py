"""Plain-Python proto3 messages: the reading rules the worker library relies on, and JSON.

A message class lists its fields (`FIELDS`, each a kind: scalar, bytes, sub-message, map or
list) and its oneof groups (`ONEOFS`). Instances follow protobuf's rules where the library
looks: keyword construction (`None` means unset, an unknown name is a ValueError), an unset
field reads as its default and an unset sub-message as an empty one without becoming set, one
member of a oneof at a time, `WhichOneof` and `HasField`. `to_wire`/`from_wire` give the JSON
form sent on the host ↔ worker channel (bytes as base64; proto3 defaults left out).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

Wire = Any  # the JSON form: dicts, lists, strings, numbers and booleans


@dataclass(frozen=True)
class Kind:
    """How one field is stored, defaulted and put on the wire."""

    default: Callable[[], Any]
    to_wire: Callable[[Any], Wire]
    from_wire: Callable[[Wire], Any]
    is_message: bool = False


def _same(value: Any) -> Any:
    return value


STRING = Kind(str, str, str)
INT = Kind(int, int, int)
DOUBLE = Kind(float, float, float)
BOOL = Kind(bool, bool, bool)
BYTES = Kind(
    bytes,
    lambda value: base64.b64encode(bytes(value)).decode("ascii"),
    lambda text: base64.b64decode(text),
)


def message(name: str) -> Kind:
    """A sub-message field; `name` is resolved when first used (messages refer to each other)."""
    return Kind(
        lambda: _REGISTRY[name](),
        lambda value: value.to_wire(),
        lambda wire: _REGISTRY[name].from_wire(wire),
        is_message=True,
    )


def map_of(value: Kind) -> Kind:
    return Kind(
        dict,
        lambda items: {str(key): value.to_wire(item) for key, item in items.items()},
        lambda wire: {key: value.from_wire(item) for key, item in wire.items()},
    )


def list_of(item: Kind) -> Kind:
    return Kind(
        list,
        lambda items: [item.to_wire(element) for element in items],
        lambda wire: [item.from_wire(element) for element in wire],
    )


_REGISTRY: dict[str, type[Message]] = {}


class Message:
    """A proto3 message: keyword construction, default reads, oneofs, a JSON wire form."""

    FIELDS: ClassVar[Mapping[str, Kind]] = {}
    ONEOFS: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        _REGISTRY[cls.__name__] = cls

    def __init__(self, **values: Any) -> None:
        self._values: dict[str, Any] = {}
        for name, value in values.items():
            if name not in self.FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
            if value is None:
                continue  # as in protobuf: None leaves a field unset
            group = self._group_of(name)
            for member in self.ONEOFS[group] if group is not None else ():
                self._values.pop(member, None)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
                value = list(value)
            self._values[name] = value

    def __getattr__(self, name: str) -> Any:
        # Called only for names normal lookup misses, so for every field: set, or its default.
        kind = type(self).FIELDS.get(name)
        if kind is None or name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        value = kind.default()
        if isinstance(value, dict | list):
            values[name] = value  # a map or list read back is the same object, as in protobuf
        return value

    def WhichOneof(self, group: str) -> str | None:  # protobuf's name
        """The member of `group` that is set, or None."""
        if group not in self.ONEOFS:
            raise ValueError(f'Protocol message has no "{group}" oneof.')
        return next((m for m in self.ONEOFS[group] if m in self._values), None)

    def HasField(self, name: str) -> bool:  # protobuf's name
        """True if a sub-message or oneof member `name` was set."""
        return name in self._values

    def _group_of(self, name: str) -> str | None:
        return next((group for group, names in self.ONEOFS.items() if name in names), None)

    def to_wire(self) -> dict[str, Wire]:
        out = {}
        for name, value in self._values.items():
            kind = self.FIELDS[name]
            in_oneof = self._group_of(name) is not None
            if not in_oneof and not kind.is_message and value == kind.default():
                continue  # proto3 scalars, maps and lists at their default are not sent
            out[name] = kind.to_wire(value)
        return out

    @classmethod
    def from_wire(cls, wire: Mapping[str, Wire]) -> Any:
        known = {
            name: cls.FIELDS[name].from_wire(v) for name, v in wire.items() if name in cls.FIELDS
        }
        return cls(**known)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and (self.to_wire() == other.to_wire())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like protobuf messages

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_wire()!r})"
