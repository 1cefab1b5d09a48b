"""The ``tilework`` command: run the service, and use it (through the SDK in ``client``)."""

from tilework.cli.app import app, main

__all__ = ["app", "main"]
