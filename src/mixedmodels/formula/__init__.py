"""Formulas: lme4's syntax parsed into its parts (parse), and the closed evaluator that every
formula text passes before formulaic evaluates it (evaluate)."""
