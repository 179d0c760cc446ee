"""Deliberately broken: imports a module that does not exist."""

import azure.functions as func
import samplelib.missing  # type: ignore[import-not-found]  # noqa: F401


def main(event: func.EventGridEvent) -> None:
    return None
