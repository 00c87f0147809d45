"""Answers in layers (flags, WIZARD_*, an answers file, the current deployment, defaults) to
the one validated Config; the table of the .env keys the wizard owns."""
