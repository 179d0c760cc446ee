"""Table Storage: one gateway (`gateway.py`) and one repository per aggregate over it."""
