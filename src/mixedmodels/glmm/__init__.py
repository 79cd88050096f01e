"""Generalized models: families and links, and PIRLS."""
