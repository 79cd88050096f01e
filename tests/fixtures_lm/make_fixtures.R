# Expected numbers for tests/test_lm.py and tests/test_lmlist.py, from R's stats::lm and lme4::lmList.
# Usage (from the repository root): Rscript tests/fixtures_lm/make_fixtures.R tests/fixtures_lm
# Writes lm_cases.json, lmlist_cases.json and small data sets (CSV) that the cases use.
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(TRUE); out <- if (length(args)) args[1] else "tests/fixtures_lm"

# small data made here: an aliased column, a group with a constant predictor, missing values
set.seed(1)
tiny <- data.frame(g = factor(rep(c("a", "b", "c"), each = 4)), x1 = c(1, 2, 3, 4, 2, 3, 5, 7, 1, 1, 1, 1))
tiny$x2 <- 2 * tiny$x1
tiny$y <- round(3 + 0.5 * tiny$x1 + rnorm(12), 3)
write.csv(tiny, file.path(out, "tiny.csv"), row.names = FALSE)
holes <- sleepstudy[1:40, ]
holes$Reaction[c(3, 17)] <- NA
holes$Days[25] <- NA
holes$Subject <- as.character(holes$Subject)
write.csv(holes, file.path(out, "holes.csv"), row.names = FALSE, na = "")
tiny$g <- as.character(tiny$g)   # read back as text in Python: same sorted levels
tiny7 <- tiny[1:7, ]   # 7 rows: residuals printed one by one (rdf <= 5)
sleep_w <- sleepstudy; sleep_w$w <- 1 / (sleep_w$Days + 1); sleep_w$o <- 2 * sleep_w$Days

txt <- function(x) paste(capture.output(print(x)), collapse = "\n")

lm_case <- function(name, formula, data, data_name, newdata = NULL, weights = NULL) {
  m <- if (is.null(weights)) eval(bquote(lm(.(formula), data = .(as.name(data_name)))))
       else eval(bquote(lm(.(formula), data = .(as.name(data_name)), weights = .(as.name(weights)))))
  s <- summary(m)
  ll <- logLik(m)
  cf <- coef(m)
  ct <- s$coefficients
  ci <- confint(m)
  res <- list(name = name, formula = deparse(formula), data = data_name, weights = weights,
              coef_names = names(cf), coef = unname(cf), aliased = unname(is.na(cf)),
              table = list(rows = rownames(ct), Estimate = unname(ct[, 1]), SE = unname(ct[, 2]),
                           t = unname(ct[, 3]), p = unname(ct[, 4])),
              sigma = s$sigma, df_residual = m$df.residual, rank = m$rank,
              r_squared = s$r.squared, adj_r_squared = s$adj.r.squared,
              fstatistic = if (is.null(s$fstatistic)) NULL else unname(s$fstatistic),
              loglik = as.numeric(ll), loglik_df = attr(ll, "df"), nobs = nobs(m),
              aic = AIC(m), bic = BIC(m), rss = deviance(m),
              vcov = unname(vcov(m)),
              confint = list(rows = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2])),
              fitted = unname(fitted(m)), residuals = unname(residuals(m)),
              summary_text = txt(s))
  if (!is.null(newdata)) {
    pc <- predict(m, newdata, interval = "confidence")
    pp <- predict(m, newdata, interval = "prediction", level = 0.9)
    res$newdata <- newdata
    res$predict <- list(fit = unname(pc[, 1]), conf_lwr = unname(pc[, 2]), conf_upr = unname(pc[, 3]),
                        pred90_lwr = unname(pp[, 2]), pred90_upr = unname(pp[, 3]))
  }
  res
}

lm_cases <- list(
  lm_case("sleep", Reaction ~ Days, sleepstudy, "sleepstudy", newdata = data.frame(Days = c(0, 4.5, 12))),
  lm_case("cake", angle ~ recipe * temp, cake, "cake",
          newdata = data.frame(recipe = factor(c("A", "C", "B"), levels = c("A", "B", "C")), temp = c(180, 200, 230))),
  lm_case("sleep_noint", Reaction ~ 0 + Days, sleepstudy, "sleepstudy"),
  lm_case("sleep_int_only", Reaction ~ 1, sleepstudy, "sleepstudy"),
  lm_case("sleep_log", log(Reaction) ~ Days + I(Days^2), sleepstudy, "sleepstudy"),
  lm_case("sleep_weighted", Reaction ~ Days, sleep_w, "sleep_w", weights = "w"),
  lm_case("sleep_offset", Reaction ~ Days + offset(o), sleep_w, "sleep_w",
          newdata = data.frame(Days = c(1, 8), o = c(2, 16))),
  lm_case("tiny_aliased", y ~ x1 + x2 + g, tiny, "tiny", newdata = data.frame(x1 = c(2, 6), x2 = c(4, 12), g = c("a", "c"))),
  lm_case("tiny_small_rdf", y ~ x1 + g, tiny7, "tiny7"),
  lm_case("holes", Reaction ~ Days, holes, "holes")
)

# anova(lmer, lm), as lme4 compares them (lmer refitted with ML)
fm <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
l0 <- lm(Reaction ~ Days, sleepstudy)
av <- suppressMessages(anova(fm, l0))
anova_case <- list(rows = rownames(av), npar = av$npar, AIC = av$AIC, BIC = av$BIC, logLik = av$logLik,
                   deviance = av$deviance, Chisq = av$Chisq, Df = av$Df, p = av[["Pr(>Chisq)"]],
                   text = txt(av))

lmlist_case <- function(name, formula, data, data_name) {
  fl <- eval(bquote(lmList(.(formula), data = .(as.name(data_name)))))
  cf <- coef(fl)
  ci <- confint(fl)
  cip <- confint(fl, pool = TRUE, level = 0.9)
  s <- summary(fl)
  sc <- s$coefficients  # groups x stat x coefficient
  ps <- lme4:::pooledSD(fl)
  ci_list <- function(arr) lapply(dimnames(arr)[[3]], function(k)
    list(coef = k, lower = unname(arr[, 1, k]), upper = unname(arr[, 2, k])))
  list(name = name, formula = deparse(formula), data = data_name,
       groups = rownames(cf), coef_names = colnames(cf), coef = unname(as.matrix(cf)),
       confint = ci_list(as(ci, "array")), confint_pool90 = ci_list(as(cip, "array")),
       pooled_sd = c(ps), pooled_df = attr(ps, "df"),
       summary = lapply(dimnames(sc)[[3]], function(k)
         list(coef = k, SE = unname(sc[, 2, k]), t = unname(sc[, 3, k]), p = unname(sc[, 4, k]))),
       print_text = txt(fl), summary_text = txt(s))
}

lmlist_cases <- list(
  lmlist_case("sleep", Reaction ~ Days | Subject, sleepstudy, "sleepstudy"),
  lmlist_case("cake", angle ~ recipe + temp | replicate, cake, "cake"),
  lmlist_case("tiny", y ~ x1 | g, tiny, "tiny")
)

# coef(lmer) beside lmList, for the picture
re_coef <- coef(fm)$Subject
mixed <- list(groups = rownames(re_coef), coef_names = colnames(re_coef), coef = unname(as.matrix(re_coef)))

write(toJSON(list(r_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lm = lm_cases, anova_lmer_lm = anova_case),
             auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null", null = "null"),
      file.path(out, "lm_cases.json"))
write(toJSON(list(r_version = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmlist = lmlist_cases, coef_lmer_sleep = mixed),
             auto_unbox = TRUE, pretty = TRUE, digits = NA, na = "null", null = "null"),
      file.path(out, "lmlist_cases.json"))
