"""Modes above the engine: the ramp, schedules and their slots, the AWX export."""
