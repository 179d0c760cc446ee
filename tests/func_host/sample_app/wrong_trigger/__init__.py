"""Deliberately broken function.json: it declares an HTTP trigger for an Event Grid function.

The host accepts the folder (an HTTP trigger and its output are well-formed), so only the
worker can tell, when it matches the parameter's annotation against the binding type.
"""

import azure.functions as func


def main(event: func.EventGridEvent) -> None:
    return None
