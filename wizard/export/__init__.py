"""Exports: the deployment the wizard configured, handed to another runtime (Kubernetes).

`deployment` is the one place that reads the project directory; `kubernetes` builds the objects
as plain data; `kustomize` writes them; `command` ties them to the command line.
"""
