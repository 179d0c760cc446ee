"""Deliberately broken function.json: the binding is called `request`, the parameter `req`."""

import azure.functions as func


def main(req: func.HttpRequest) -> str:
    return "never loaded"
