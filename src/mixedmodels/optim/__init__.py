"""Optimizers and derivatives: NLopt's BOBYQA (lmer), Powell's BOBYQA (glmer's first stage),
finite differences, and lme4's convergence checks."""
