"""The commands, each returning a Result: setup (the pipeline, its interactive half, its
preflight, its report), the pending rotation, check, show, rollback, up and down."""
