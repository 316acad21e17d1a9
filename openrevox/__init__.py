"""openrevox: a self-hostable implementation of the Revox AI phone-agent platform."""

__version__ = "0.1.0"
