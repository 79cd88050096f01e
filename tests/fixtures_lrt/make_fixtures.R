# Expected values for tests/test_compare.py, test_ranova.py, test_confint.py
# (R 4.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2).
# Usage (from the repository root): Rscript tests/fixtures_lrt/make_fixtures.R
# Writes tests/fixtures_lrt/expected.json. The data are the CSV files the Python tests read.
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})

load_csv <- function(dir, name) {
  meta <- fromJSON(file.path(dir, "data", paste0(name, ".json")), simplifyVector=FALSE)
  d <- read.csv(file.path(dir, "data", paste0(name, ".csv")), stringsAsFactors=FALSE)
  for (v in names(meta$columns)) {
    info <- meta$columns[[v]]
    if (info$type == "factor") d[[v]] <- factor(as.character(d[[v]]), levels=unlist(info$levels))
    if (info$type == "character") d[[v]] <- as.character(d[[v]])
  }
  d
}
REF <- "tests/reference"; EXTRA <- "tests/reference_extra"
sleepstudy <- load_csv(REF, "sleepstudy"); Penicillin <- load_csv(REF, "Penicillin")
Pastes <- load_csv(REF, "Pastes"); Dyestuff <- load_csv(REF, "Dyestuff"); Dyestuff2 <- load_csv(REF, "Dyestuff2")
growth <- load_csv(EXTRA, "growth"); fac3 <- load_csv(EXTRA, "fac3"); Orthodont <- load_csv(EXTRA, "Orthodont")
ham <- load_csv(EXTRA, "ham"); cake <- load_csv(EXTRA, "cake")

tab <- function(a) {  # an anova-like table as a list of columns, row names in `rows`
  a <- as.data.frame(a)
  out <- list(rows=rownames(a))
  for (v in names(a)) out[[v]] <- unname(a[[v]])
  out
}
ci_list <- function(ci) list(names=rownames(ci), lower=unname(ci[, 1]), upper=unname(ci[, 2]), cols=colnames(ci))

res <- list()

# ---- anova(): likelihood-ratio tests
m_slope <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
m_int <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
m_unc <- lmer(Reaction ~ Days + (Days || Subject), sleepstudy)
res$lrt_three_unsorted <- c(list(formulas=c("Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject)",
                                            "Reaction ~ Days + (Days || Subject)"), REML=TRUE),
                            tab(anova(m_slope, m_int, m_unc)))
ml0 <- lmer(Reaction ~ 1 + (1 | Subject), sleepstudy, REML=FALSE)
ml1 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML=FALSE)
res$lrt_ml_fixed <- c(list(formulas=c("Reaction ~ 1 + (1 | Subject)", "Reaction ~ Days + (1 | Subject)"), REML=FALSE),
                      tab(anova(ml0, ml1)))
e1 <- lmer(Reaction ~ Days + (1 | Subject), sleepstudy, REML=FALSE)
e2 <- lmer(Reaction ~ Days + (0 + Days | Subject), sleepstudy, REML=FALSE)
res$lrt_equal_npar <- c(list(formulas=c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (0 + Days | Subject)"),
                             REML=FALSE), tab(anova(e1, e2)))
lm1 <- lm(Reaction ~ Days, sleepstudy)
res$lrt_with_lm <- c(list(formula="Reaction ~ Days + (1 | Subject)", REML=TRUE), tab(anova(m_int, lm1)))
res$lrt_print <- paste(capture.output(print(anova(m_int, m_slope))), collapse="\n")

# ---- ranova
rv <- function(name, formula, data, REML=TRUE) {
  m <- eval(bquote(lmer(.(as.formula(formula)), data=data, REML=.(REML))))
  res[[paste0("ranova_", name)]] <<- c(list(formula=formula, REML=REML), tab(ranova(m)))
}
rv("uncorrelated", "Reaction ~ Days + (Days || Subject)", sleepstudy)
rv("intercept_lm", "Reaction ~ Days + (1 | Subject)", sleepstudy)
rv("intercept_lm_ml", "Reaction ~ Days + (1 | Subject)", sleepstudy, REML=FALSE)
rv("crossed", "diameter ~ 1 + (1 | plate) + (1 | sample)", Penicillin)
rv("nested", "strength ~ 1 + (1 | batch/cask)", Pastes)
rv("quadratic", "y ~ x + I(x^2) + (1 + x + I(x^2) | g)", growth)
rv("factor_slope", "y ~ cond3 + (1 + cond3 | subj)", fac3)
rv("slope_ml", "distance ~ age * Sex + (age | Subject)", Orthodont, REML=FALSE)
rv("zero_intercept", "Reaction ~ Days + (0 + Days | Subject)", sleepstudy)

# ---- drop1
dr <- function(name, formula, data, ...) {
  m <- eval(bquote(lmer(.(as.formula(formula)), data=data)))
  res[[paste0("drop1_", name)]] <<- c(list(formula=formula, args=list(...)), tab(drop1(m, ...)))
}
dr("slope", "Reaction ~ Days + (Days | Subject)", sleepstudy)
dr("orthodont", "distance ~ age * Sex + (age | Subject)", Orthodont)
dr("orthodont_kr", "distance ~ age * Sex + (age | Subject)", Orthodont, ddf="Kenward-Roger")
dr("ham", "Informed.liking ~ Gender + Age + Information * Product + (1 | Consumer) + (1 | Consumer:Product)", ham)
dr("ham_chisq", "Informed.liking ~ Gender + Age + Information * Product + (1 | Consumer) + (1 | Consumer:Product)", ham,
   ddf="lme4", test="Chisq")
dr("orthodont_none", "distance ~ age * Sex + (age | Subject)", Orthodont, ddf="lme4")

# ---- confint
cf <- function(name, formula, data, REML=TRUE, method="profile", level=0.95) {
  m <- eval(bquote(lmer(.(as.formula(formula)), data=data, REML=.(REML))))
  ci <- suppressWarnings(confint(m, method=method, level=level, oldNames=FALSE, quiet=TRUE))
  if (method == "Wald") ci <- ci[!is.na(ci[, 1]), , drop=FALSE]
  res[[paste0("confint_", name)]] <<- c(list(formula=formula, REML=REML, method=method, level=level), ci_list(ci))
}
cf("uncorrelated", "Reaction ~ Days + (Days || Subject)", sleepstudy)
cf("slope_ml", "Reaction ~ Days + (Days | Subject)", sleepstudy, REML=FALSE)
cf("slope_90", "Reaction ~ Days + (Days | Subject)", sleepstudy, level=0.90)
cf("crossed", "diameter ~ 1 + (1 | plate) + (1 | sample)", Penicillin)
cf("nested", "strength ~ 1 + (1 | batch/cask)", Pastes)
cf("orthodont", "distance ~ age * Sex + (age | Subject)", Orthodont)
cf("singular", "Yield ~ 1 + (1 | Batch)", Dyestuff2)
cf("wald_90", "Reaction ~ Days + (Days | Subject)", sleepstudy, method="Wald", level=0.90)

# ---- the profile itself (dyestuff): points lme4 computed
m <- lmer(Yield ~ 1 + (1 | Batch), Dyestuff)
pr <- as.data.frame(profile(m, signames=FALSE))
res$profile_dyestuff <- list(par=as.character(pr$.par), zeta=pr$.zeta, sd=pr[["sd_(Intercept)|Batch"]],
                             sigma=pr$sigma, intercept=pr[["(Intercept)"]])

write(toJSON(res, auto_unbox=TRUE, pretty=TRUE, digits=NA, null="null", na="null"),
      "tests/fixtures_lrt/expected.json")
cat("wrote tests/fixtures_lrt/expected.json\n")
