# Timing of glmer against lme4 (run from the repository root; not part of the test suite).
# Rscript benchmarks/glmer/bench_glmer.R; OPENBLAS_NUM_THREADS=1 python benchmarks/glmer/bench_glmer.py
suppressMessages({library(lme4); library(jsonlite)})
load_ref <- function(root, name) {
  meta <- fromJSON(file.path(root, "data", paste0(name, ".json")))
  d <- read.csv(file.path(root, "data", paste0(name, ".csv")))
  for (v in names(meta$columns)) if (meta$columns[[v]]$type == "factor") d[[v]] <- factor(as.character(d[[v]]), levels = meta$columns[[v]]$levels)
  d
}
psy <- load_ref("tests/reference_extra", "psycholing")
gt <- load_ref("tests/reference", "grouseticks")
cb <- load_ref("tests/reference", "cbpp")
bench <- function(label, expr, reps) {
  t <- numeric(reps)
  for (i in seq_len(reps)) { t0 <- proc.time()[["elapsed"]]; force(eval(expr)); t[i] <- proc.time()[["elapsed"]] - t0 }
  cat(sprintf("R  %-40s median %.3fs  min %.3fs  (n=%d)\n", label, median(t), min(t), reps))
}
bench("bernoulli crossed (1|subj)+(1|item)", quote(glmer(acc ~ cond + (1 | subj) + (1 | item), psy, family = binomial)), 20)
bench("bernoulli crossed nAGQ=0", quote(glmer(acc ~ cond + (1 | subj) + (1 | item), psy, family = binomial, nAGQ = 0)), 20)
bench("bernoulli slope (1+cond|subj)+(1|item)", quote(glmer(acc ~ cond + freq + (1 + cond | subj) + (1 | item), psy, family = binomial)), 10)
bench("cbpp binomial", quote(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cb, family = binomial)), 20)
bench("grouseticks poisson", quote(glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), gt, family = poisson)), 5)
