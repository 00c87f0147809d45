"""The project directory on disk: the Project value, the lock, atomic writes and backups."""
