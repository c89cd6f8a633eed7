"""socklab: the textbook's elementary-sockets traces, replayed on a real kernel."""

__version__ = "0.1.0"
