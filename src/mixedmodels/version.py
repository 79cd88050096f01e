"""The package's version, at the bottom of the layers: the CLI and saved files (io/) name it."""
__version__ = "0.1.0"
