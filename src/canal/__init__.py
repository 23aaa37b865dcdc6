"""canal: a cybercrime intelligence channel."""

__version__ = "0.1.0"
