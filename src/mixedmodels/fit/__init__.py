"""The fitting functions, compositions of the stages: lmer(), glmer(), glmer_nb(), allfit()."""
