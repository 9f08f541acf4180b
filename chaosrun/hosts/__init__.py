"""Reaching hosts: Ansible's config, inventory, collection, ansible-runner, the SSH fast path."""
