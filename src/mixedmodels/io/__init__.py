"""Saving and loading fitted models (JSON, no pickle), within fixed limits."""
