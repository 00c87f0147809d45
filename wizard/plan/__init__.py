"""Project + Config -> the Plan: every file this run would write, its ports and readers."""
