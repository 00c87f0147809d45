"""Answers in layers, the stack's contract, and the one validated Config."""
