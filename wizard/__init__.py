# The one place the version is written (pyproject.toml reads it from here): `wizard --version`
# answers with it before anything else is imported.
__version__ = "0.1.0"
