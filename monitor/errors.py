"""Errors of the application; the type says what happens next.

    MonitorError              base of everything raised on purpose here
    ├── ConfigError           the configuration is wrong: stop at start-up, name key, file and line
    └── StorageError          the database is unreachable or not at the expected schema: stop

Source failures are ``crawlers.errors.SourceError``: recorded on the crawl run, never fatal.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of the application's own errors."""


class ConfigError(MonitorError):
    """The configuration cannot be used; the message names the key, the file and what is wrong."""


class StorageError(MonitorError):
    """The database cannot be used as configured."""
