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
# Values stored as given: scalars, and containers of the type the field keeps.
_AS_IS = (str, int, float, bool, bytes, dict, list)


class Message:
    """A proto3 message: keyword construction, default reads, oneofs, a JSON wire form."""

    FIELDS: ClassVar[Mapping[str, Kind]] = {}
    ONEOFS: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Worked out once per class: each oneof member's group, and each field's default value
    # where it is immutable (those equal to it are not sent).
    _GROUP_OF: ClassVar[dict[str, str]] = {}
    _UNSENT: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        _REGISTRY[cls.__name__] = cls
        cls._GROUP_OF = {m: group for group, members in cls.ONEOFS.items() for m in members}
        cls._UNSENT = {
            name: kind.default()
            for name, kind in cls.FIELDS.items()
            if not kind.is_message and name not in cls._GROUP_OF
        }

    def __init__(self, **values: Any) -> None:
        # Set fields live in the instance's __dict__, so reading one is a plain attribute read;
        # `__getattr__` answers for the others. No field is named like a method of this class.
        fields = self.__dict__
        for name, value in values.items():
            if name not in self.FIELDS:
                raise ValueError(f'Protocol message {type(self).__name__} has no "{name}" field.')
            if value is None:
                continue  # as in protobuf: None leaves a field unset
            group = self._GROUP_OF.get(name)
            if group is not None:
                for member in self.ONEOFS[group]:
                    fields.pop(member, None)
            if type(value) not in _AS_IS and not isinstance(value, Message):
                if isinstance(value, Mapping):
                    value = dict(value)
                elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
                    value = list(value)
            fields[name] = value

    def __getattr__(self, name: str) -> Any:
        # Called only for fields that are not set: they read as their default.
        kind = type(self).FIELDS.get(name)
        if kind is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        value = kind.default()
        if isinstance(value, dict | list):
            self.__dict__[name] = (
                value  # a map or list read back is the same object, as in protobuf
            )
        return value

    def WhichOneof(self, group: str) -> str | None:  # protobuf's name
        """The member of `group` that is set, or None."""
        if group not in self.ONEOFS:
            raise ValueError(f'Protocol message has no "{group}" oneof.')
        fields = self.__dict__
        return next((m for m in self.ONEOFS[group] if m in fields), None)

    def HasField(self, name: str) -> bool:  # protobuf's name
        """True if a sub-message or oneof member `name` was set."""
        return name in self.__dict__

    def to_wire(self) -> dict[str, Wire]:
        out = {}
        unsent, fields = self._UNSENT, self.FIELDS
        for name, value in self.__dict__.items():
            if name in unsent and value == unsent[name]:
                continue  # proto3 scalars, maps and lists at their default are not sent
            out[name] = fields[name].to_wire(value)
        return out

    @classmethod
    def from_wire(cls, wire: Mapping[str, Wire]) -> Any:
        """The message of a wire form that `to_wire` made (names it does not know are skipped)."""
        made = cls.__new__(cls)
        fields = cls.FIELDS
        made.__dict__.update(
            (name, fields[name].from_wire(value)) for name, value in wire.items() if name in fields
        )
        return made

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Message)
            and type(other) is type(self)
            and (self.to_wire() == other.to_wire())
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like protobuf messages

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_wire()!r})"
