"""Find the function folders of an app and load them the way the Python worker does.

A function is a subfolder of the app root with a `function.json`. Its script is imported as a
module named after the folder, with the app root first on `sys.path` (so `from shared.x import y`
works as under the worker), `scriptFile` defaulting to `__init__.py` and `entryPoint` to `main`.
A function that fails the checks (see `checks`) is reported, and the others still load.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.func_host.checks import binding_problems, signature_problems, trigger_settings
from local.func_host.model import Binding, FunctionLoadError, FunctionSpec, LoadedFunction
from local.func_host.settings import is_true

logger = logging.getLogger("func_host.discovery")


@dataclass
class Discovery:
    """Outcome of loading an app: what runs, what failed (and why), what is switched off."""

    functions: dict[str, LoadedFunction] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    disabled: list[str] = field(default_factory=list)


def check_function(folder: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem the worker (or this host) would report for one function folder.

    Imports the function's module (as the worker would), so the app root is put on sys.path.
    `%AppSetting%` references resolve against `environ` (default: os.environ).
    """
    _, problems, _ = _inspect_function(folder, os.environ if environ is None else environ)
    return problems


def load_function(folder: Path, environ: Mapping[str, str] | None = None) -> LoadedFunction:
    loaded, problems, cause = _inspect_function(folder, os.environ if environ is None else environ)
    if loaded is None or problems:
        raise FunctionLoadError("; ".join(problems)) from cause
    return loaded


def discover(
    root: Path, environ: Mapping[str, str], only: tuple[str, ...] | None = None
) -> Discovery:
    """Load every function folder under `root`; one failure does not stop the others."""
    result = Discovery()
    for folder in sorted(path for path in root.iterdir() if (path / "function.json").is_file()):
        name = folder.name
        if only is not None and name not in only:
            continue
        try:
            if is_disabled(folder, environ):
                result.disabled.append(name)
                continue
            result.functions[name] = load_function(folder, environ)
        except FunctionLoadError as error:
            result.errors[name] = str(error)
            cause = error.__cause__
            logger.error(
                "Function '%s' failed to load: %s",
                name,
                error,
                exc_info=(type(cause), cause, cause.__traceback__) if cause else None,
            )
    return result


def is_disabled(folder: Path, environ: Mapping[str, str]) -> bool:
    """`"disabled"` in function.json (true or a setting name) or `AzureWebJobs.<name>.Disabled`."""
    name = folder.name
    for setting in (f"AzureWebJobs.{name}.Disabled", f"AzureWebJobs_{name}_Disabled"):
        if is_true(environ.get(setting)):
            return True
    flag = _read_config(folder).get("disabled", False)
    if isinstance(flag, str) and flag.strip().lower() not in {"true", "false", "1", "0", ""}:
        return is_true(environ.get(flag))  # legacy form: the name of an app setting
    return is_true(flag)


def read_spec(folder: Path) -> FunctionSpec:
    """Parse function.json; raise FunctionLoadError if it is missing or malformed."""
    config = _read_config(folder)
    raw_bindings = config.get("bindings")
    if not isinstance(raw_bindings, list) or not raw_bindings:
        raise FunctionLoadError("function.json must have a non-empty `bindings` list")
    bindings = []
    for index, raw in enumerate(raw_bindings):
        if not isinstance(raw, dict):
            raise FunctionLoadError(f"binding #{index} in function.json is not an object")
        values = [raw.get(key) for key in ("name", "type", "direction")]
        if not all(isinstance(value, str) and value for value in values):
            raise FunctionLoadError(
                f"binding #{index} in function.json needs string `name`, `type` and `direction`"
            )
        name, kind, direction = (str(value) for value in values)
        bindings.append(Binding(name, kind, direction.lower(), raw))
    script = config.get("scriptFile", "__init__.py")
    entry_point = config.get("entryPoint", "main")
    if not isinstance(script, str) or not isinstance(entry_point, str):
        raise FunctionLoadError("`scriptFile` and `entryPoint` must be strings")
    return FunctionSpec(
        name=folder.name,
        folder=folder,
        script_file=(folder / script).resolve(),
        entry_point=entry_point,
        bindings=tuple(bindings),
        config=config,
    )


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "function.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise FunctionLoadError(f"cannot read {path}: {error}") from None
    if not isinstance(config, dict):
        raise FunctionLoadError(f"{path} must contain a JSON object")
    return config


def _inspect_function(
    folder: Path, environ: Mapping[str, str]
) -> tuple[LoadedFunction | None, list[str], BaseException | None]:
    """The loaded function if it has no problems, the problems, and an import error's cause."""
    try:
        spec = read_spec(folder)
    except FunctionLoadError as error:
        return None, [str(error)], None
    problems = binding_problems(spec)
    settings = trigger_settings(spec, environ, problems) if spec.triggers else None
    try:
        entry_point = _import_entry_point(spec)
    except FunctionLoadError as error:
        problems.append(str(error))
        return None, problems, error.__cause__
    signature = signature_problems(spec, entry_point, problems)
    if settings is None or problems:
        return None, problems, None
    loaded = LoadedFunction(
        spec=spec,
        entry_point=entry_point,
        requires_context=signature.requires_context,
        output_params=signature.output_params,
        raw_trigger=signature.raw_trigger,
        route=settings.route,
        methods=settings.methods,
        schedule=settings.schedule,
        run_on_startup=settings.run_on_startup,
    )
    return loaded, problems, None


def _import_entry_point(spec: FunctionSpec) -> Callable[..., Any]:
    root = spec.folder.parent.resolve()
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    script = spec.script_file
    if script.suffix != ".py" or not script.is_file():
        raise FunctionLoadError(f"scriptFile {script} does not exist or is not a .py file")
    if script.parent != spec.folder.resolve():
        raise FunctionLoadError(f"scriptFile {script} must be inside the function folder")
    module_name = spec.name if script.name == "__init__.py" else f"{spec.name}.{script.stem}"
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise FunctionLoadError(
            f"importing module '{module_name}' failed: {type(error).__name__}: {error}"
        ) from error
    loaded_from = getattr(module, "__file__", None)
    if loaded_from is None or Path(loaded_from).resolve() != script:
        raise FunctionLoadError(
            f"module name '{module_name}' is already taken by {loaded_from}; "
            "function folder names must not clash with other modules"
        )
    entry_point = getattr(module, spec.entry_point, None)
    if not callable(entry_point):
        raise FunctionLoadError(f"entry point '{spec.entry_point}' not found in {script}")
    return typing.cast(Callable[..., Any], entry_point)
