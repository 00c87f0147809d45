"""The files on disk: .env, compose files, the project directory, planned and written files."""
