"""Checks of the host: ports, the database, GPUs, document directories, Docker."""
