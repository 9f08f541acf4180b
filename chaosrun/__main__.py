"""Allow `python -m chaosrun`."""

from chaosrun.cli import main

main()
