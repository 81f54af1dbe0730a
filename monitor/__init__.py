"""The monitoring application: configuration, storage, pipeline, scheduler, cases and CLI."""

__version__ = "0.1.0"
