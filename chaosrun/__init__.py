"""chaosrun: chaos engineering for fleets run with Ansible."""

__version__ = "0.1.0"
