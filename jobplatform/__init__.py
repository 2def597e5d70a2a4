"""jobplatform: a plugin-based background-job platform."""

__version__ = "0.1.0"
