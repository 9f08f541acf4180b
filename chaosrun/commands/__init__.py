"""One module per command group; chaosrun/cli.py wires them together."""
