"""Always fails: the host must answer 500 with an empty body and log (masked) why."""

import logging

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("boom was asked to text +15551234567")
    print("boom printed +15551234567")
    raise ValueError("cannot reach +15551234567")
