"""The lab: a production-shaped fleet of systemd hosts on this one machine."""
