"""Probes of this host: ports, the database, GPUs, document directories, Docker (and the one
place `docker compose` runs), bind directories, the web UI's readiness."""
