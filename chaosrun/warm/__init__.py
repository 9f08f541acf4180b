"""A warm chaosrun: commands that run in a fork of a process that has already loaded them."""
