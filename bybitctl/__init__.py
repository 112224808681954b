"""bybitctl: a command-line toolkit over the Bybit v5 API, built on pybit."""

__version__ = "0.1.0"
