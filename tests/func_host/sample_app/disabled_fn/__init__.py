"""Disabled in function.json: loaded by the worker (as on Azure, where it can still be run from
the portal) but given no route."""

import azure.functions as func


def main(req: func.HttpRequest) -> str:
    return "should not be reachable"
