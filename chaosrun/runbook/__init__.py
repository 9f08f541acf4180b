"""Runbooks: Markdown an on-call human reads, compiled to playbooks and drilled."""
