"""Planning: an experiment checked against the inventory, role and caps, made into a Plan."""
