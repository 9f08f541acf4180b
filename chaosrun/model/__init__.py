"""The model: what the files say (experiment, chaosrun.yml, windows, caps) and rules on it."""
