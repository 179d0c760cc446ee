"""Deliberately broken: the binding is called `request` but the parameter `req`."""

import azure.functions as func


def main(req: func.HttpRequest) -> str:
    return "never loaded"
