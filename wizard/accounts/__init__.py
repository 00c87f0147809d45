"""The stack's accounts (users, API keys, refresh tokens) in its own PostgreSQL schema.

Nothing here is imported by `wizard --help`: psycopg and bcrypt load inside the commands.
"""
