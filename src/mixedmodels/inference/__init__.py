"""Inference on fitted models: Satterthwaite and Kenward-Roger degrees of freedom, ANOVA tables,
likelihood-ratio tests, ranova, confidence intervals, profiles, emmeans, simulation and bootstrap."""
