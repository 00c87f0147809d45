"""The commands: each turns a request into a result (setup, check, rotation)."""
