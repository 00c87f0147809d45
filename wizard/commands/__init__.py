"""The commands: setup (and its interactive half), check, show, rollback, the pending rotation."""
