"""Authentication of the HTTP API: users (argon2id), sessions, API tokens, TOTP, throttling, audit.

Everything lives in the metadata store (SQLite) as hashes; nothing here has a default password.
Import the submodules (``trafficatlas.auth.service`` ...) directly: this package imports nothing
so that settings can load without argon2.
"""
