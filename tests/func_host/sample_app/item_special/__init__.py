"""Literal route `items/special`: must win over `items/{name}`."""

import azure.functions as func


def main(req: func.HttpRequest) -> str:
    return "special"
