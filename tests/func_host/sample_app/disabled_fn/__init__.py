"""Disabled in function.json: the host must not even import it."""

raise RuntimeError("a disabled function must not be imported")
