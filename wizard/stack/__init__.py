"""The stack: its compose files read as compose reads them, its profile, its contract as a value."""
