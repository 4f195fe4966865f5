"""qlutui: Qlustar cluster management in the terminal."""

__version__ = "0.1.0"
