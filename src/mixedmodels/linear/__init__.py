"""Ordinary linear models beside the mixed ones: lm() and lmList()."""
