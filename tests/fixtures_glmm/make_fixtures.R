# R-made expected values for tests/test_glmm.py and tests/test_families.py (lme4 1.1-31, R 4.2).
# Usage (from the repository root): Rscript tests/fixtures_glmm/make_fixtures.R
suppressMessages({library(lme4); library(jsonlite)})
out <- "tests/fixtures_glmm"
load_ref <- function(root, name) {
  meta <- fromJSON(file.path(root, "data", paste0(name, ".json")))
  d <- read.csv(file.path(root, "data", paste0(name, ".csv")))
  for (v in names(meta$columns)) {
    info <- meta$columns[[v]]
    if (info$type == "factor") d[[v]] <- factor(as.character(d[[v]]), levels = info$levels)
    if (info$type == "logical") d[[v]] <- as.logical(d[[v]])
  }
  d
}
cbpp_d <- load_ref("tests/reference", "cbpp")
psy <- load_ref("tests/reference_extra", "psycholing")
cnt <- load_ref("tests/reference_extra", "counts")
res <- list()

# ---- families: dev.resids, aic, variance, links at fixed points
fam_case <- function(fam, y, mu, wt, n = rep(1, length(y))) {
  dev <- fam$dev.resids(y, mu, wt)
  eta <- fam$linkfun(mu)
  list(family = fam$family, link = fam$link, y = y, mu = mu, wt = wt, n = n,
       dev_resids = dev, aic = fam$aic(y, n, mu, wt, sum(dev)), variance = fam$variance(mu),
       eta = eta, mu_eta = fam$mu.eta(eta), linkinv = fam$linkinv(eta))
}
y01 <- c(0, 1, 1, 0, 1); mu01 <- c(0.2, 0.7, 0.55, 0.4, 0.9)
ycnt <- c(0, 3, 1, 7, 2); mucnt <- c(0.5, 2.5, 1.2, 5.0, 2.2)
ypos <- c(0.5, 2.2, 1.3, 4.1, 0.9); mupos <- c(0.7, 1.9, 1.5, 3.2, 1.1)
w5 <- c(1, 2, 1, 3, 1)
res$families <- list(
  fam_case(binomial(), y01, mu01, rep(1, 5)),
  fam_case(binomial("probit"), y01, mu01, rep(1, 5)),
  fam_case(binomial("cloglog"), y01, mu01, rep(1, 5)),
  fam_case(binomial("cauchit"), y01, mu01, rep(1, 5)),
  fam_case(binomial(), c(0.2, 0.5, 1, 0, 0.25), mu01, c(5, 4, 3, 2, 4), n = c(5, 4, 3, 2, 4)),
  fam_case(poisson(), ycnt, mucnt, w5),
  fam_case(poisson("sqrt"), ycnt, mucnt, rep(1, 5)),
  fam_case(poisson("identity"), ycnt, mucnt, rep(1, 5)),
  fam_case(Gamma(), ypos, mupos, w5),
  fam_case(Gamma("log"), ypos, mupos, rep(1, 5)),
  fam_case(inverse.gaussian(), ypos, mupos, rep(1, 5)),
  fam_case(gaussian(), ypos, mupos, rep(1, 5)),
  fam_case(gaussian("log"), ypos, mupos, rep(1, 5)),
  fam_case(MASS::negative.binomial(2.5), ycnt, mucnt, rep(1, 5))
)

# ---- a binomial GLMM: residuals, predictions, Wald intervals, ranef, vcov
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp_d, family = binomial)
g0 <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp_d, family = binomial)
nd <- cbpp_d[c(1, 2, 5, 9, 20, 33), ]
nd_new <- data.frame(herd = factor(c("1", "16"), levels = c(levels(cbpp_d$herd), "16")), period = factor(c("2", "3"), levels = levels(cbpp_d$period)))
ci <- confint(g1, method = "Wald", oldNames = FALSE)
ok <- !is.na(ci[, 1])
a <- as.data.frame(anova(g0, g1))
res$cbpp <- list(
  residuals = list(deviance = unname(residuals(g1, "deviance")), pearson = unname(residuals(g1, "pearson")),
                   response = unname(residuals(g1, "response")), working = unname(residuals(g1, "working"))),
  fitted = unname(fitted(g1)),
  predict_link = unname(predict(g1, newdata = nd)), predict_response = unname(predict(g1, newdata = nd, type = "response")),
  predict_pop = unname(predict(g1, newdata = nd, re.form = NA)),
  predict_new_level = unname(predict(g1, newdata = nd_new, allow.new.levels = TRUE, type = "response")),
  predict_fit_link = unname(predict(g1)), predict_fit_response = unname(predict(g1, type = "response")),
  confint_wald = list(names = rownames(ci)[ok], lower = unname(ci[ok, 1]), upper = unname(ci[ok, 2])),
  confint_wald90 = unname(as.matrix(confint(g1, method = "Wald", level = 0.9)[ok, ])),
  anova = list(npar = a$npar, AIC = a$AIC, BIC = a$BIC, logLik = a$logLik, deviance = a$deviance,
               Chisq = a$Chisq, Df = a$Df, p = a[["Pr(>Chisq)"]]),
  weights = unname(weights(g1)), npar = attr(logLik(g1), "df"), df_resid = df.residual(g1)
)

# ---- response encodings of a Bernoulli GLMM give the same fit
psy$acc_lgl <- psy$acc == 1
psy$acc_fac <- factor(ifelse(psy$acc == 1, "correct", "wrong"), levels = c("wrong", "correct"))
ge <- glmer(acc ~ cond + (1 | subj) + (1 | item), psy, family = binomial)
res$bernoulli <- list(logLik = as.numeric(logLik(ge)), fixef = unname(fixef(ge)), theta = unname(getME(ge, "theta")),
                      nAGQ0_logLik = as.numeric(logLik(update(ge, nAGQ = 0))),
                      cloglog_logLik = as.numeric(logLik(update(ge, family = binomial("cloglog")))),
                      cloglog_fixef = unname(fixef(update(ge, family = binomial("cloglog")))))

# ---- offset as an argument equals offset() in the formula
gp <- glmer(count ~ x + (1 | g), cnt, family = poisson, offset = log(exposure))
res$poisson_offset_arg <- list(logLik = as.numeric(logLik(gp)), fixef = unname(fixef(gp)))
# ---- inverse Gaussian and Gamma(inverse)
gi <- glmer(gy ~ x + (1 | g), cnt, family = Gamma())
res$gamma_inverse <- list(logLik = as.numeric(logLik(gi)), fixef = unname(fixef(gi)), sigma = sigma(gi),
                          se = unname(sqrt(diag(as.matrix(vcov(gi))))), deviance = deviance(gi))
gig <- glmer(gy ~ x + (1 | g), cnt, family = inverse.gaussian(link = "log"))
res$inverse_gaussian_log <- list(logLik = as.numeric(logLik(gig)), fixef = unname(fixef(gig)), sigma = sigma(gig),
                                 se = unname(sqrt(diag(as.matrix(vcov(gig))))))
# ---- AGQ on a Poisson model
gq <- glmer(count ~ x + offset(log(exposure)) + (1 | g), cnt, family = poisson, nAGQ = 5)
res$poisson_agq5 <- list(logLik = as.numeric(logLik(gq)), fixef = unname(fixef(gq)), theta = unname(getME(gq, "theta")),
                         se = unname(sqrt(diag(as.matrix(vcov(gq))))))

# ---- a singular Bernoulli fit (no variation between groups)
set.seed(1)
sg <- data.frame(g = factor(rep(sprintf("g%02d", 1:10), each = 20)), x = round(rnorm(200), 3))
sg$y <- rbinom(200, 1, plogis(0.3 + 0.5 * sg$x))
write.csv(sg, file.path(out, "singular.csv"), row.names = FALSE)
gs <- glmer(y ~ x + (1 | g), sg, family = binomial)
res$singular <- list(logLik = as.numeric(logLik(gs)), fixef = unname(fixef(gs)), theta = unname(getME(gs, "theta")),
                     singular = isSingular(gs), se = unname(sqrt(diag(as.matrix(vcov(gs))))),
                     summary_text = paste(capture.output(print(summary(gs))), collapse = "\n"))

write(toJSON(res, auto_unbox = TRUE, pretty = TRUE, digits = NA), file.path(out, "expected.json"))
cat("wrote", file.path(out, "expected.json"), "\n")
