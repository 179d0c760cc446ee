"""App settings and host configuration, read the way Core Tools reads them.

`local.settings.json` `Values` become environment variables, but a variable already set in the
environment wins (Core Tools' rule, so a test or a shell can override one setting). `host.json`
must exist at the app root (Core Tools refuses to start without it) and may set
`extensions.http.routePrefix`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ROUTE_PREFIX = "api"
_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


class SettingsError(RuntimeError):
    """host.json, local.settings.json or an `%AppSetting%` reference is unusable."""


@dataclass(frozen=True)
class HostConfig:
    """What the host needs from host.json."""

    route_prefix: str = DEFAULT_ROUTE_PREFIX
    functions: tuple[str, ...] | None = None  # host.json `functions`: load only these


@dataclass(frozen=True)
class LocalSettings:
    """What the host needs from local.settings.json."""

    values: Mapping[str, str]
    local_http_port: int | None = None


def read_host_config(root: Path) -> HostConfig:
    path = root / "host.json"
    if not path.is_file():
        raise SettingsError(f"{path} not found: the app root must contain host.json")
    document = _read_json_object(path)
    extensions = document.get("extensions") or {}
    http = (extensions.get("http") if isinstance(extensions, dict) else None) or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else None
    if not isinstance(prefix, str):
        raise SettingsError(f"{path}: extensions.http.routePrefix must be a string")
    functions = document.get("functions")
    if functions is not None and not (
        isinstance(functions, list) and all(isinstance(name, str) for name in functions)
    ):
        raise SettingsError(f"{path}: `functions` must be a list of function names")
    return HostConfig(
        route_prefix=prefix.strip("/"),
        functions=tuple(functions) if functions is not None else None,
    )


def read_local_settings(root: Path) -> LocalSettings:
    """Values and Host.LocalHttpPort from local.settings.json; empty if the file is absent."""
    path = root / "local.settings.json"
    if not path.is_file():
        return LocalSettings(values={})
    document = _read_json_object(path)
    raw_values = document.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise SettingsError(f"{path}: `Values` must be an object of strings")
    values = {str(name): _setting_text(value) for name, value in raw_values.items()}
    port = (document.get("Host") or {}).get("LocalHttpPort")
    if port is not None and not isinstance(port, int):
        raise SettingsError(f"{path}: Host.LocalHttpPort must be a number")
    return LocalSettings(values=values, local_http_port=port)


def apply_app_settings(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Copy settings into `environ` unless already set there; return the names copied."""
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied


def resolve_setting_references(text: str, environ: Mapping[str, str]) -> str:
    """Replace `%Name%` with the app setting, as the host's name resolver does for bindings."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise SettingsError(f"app setting '{name}' (referenced as %{name}%) is not set")
        return environ[name]

    return _SETTING_REFERENCE.sub(lookup, text)


def is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in {"true", "1"})


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise SettingsError(f"{path} cannot be read as JSON: {error}") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path} must contain a JSON object")
    return document
