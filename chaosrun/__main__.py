"""Allow `python -m chaosrun`."""

from chaosrun.launch import main

main()
