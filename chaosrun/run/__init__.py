"""The run: the engine and what it drives (preflight, journal, lease, reaper, observation)."""
