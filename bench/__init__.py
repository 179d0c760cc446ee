"""Benchmarks of the app against real Azurite and the ACS sandbox: `python -m bench`.

Throughput is reported as a ratio to a baseline measured in the same run, so that a noisy or
slow machine moves both sides alike; request counts are exact and guarded by a test.
"""
