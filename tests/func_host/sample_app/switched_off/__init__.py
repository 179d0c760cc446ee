"""Disabled by the `AzureWebJobs.switched_off.Disabled` app setting."""

import azure.functions as func


def main(req: func.HttpRequest) -> str:
    return "should not be reachable"
