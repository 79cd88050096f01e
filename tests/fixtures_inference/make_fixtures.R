# Expected values for tests/test_kenward_roger.py, test_anova_table.py, test_emmeans.py.
# R 4.2, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2, emmeans 1.8.4-1.
# Usage (from the repository root): Rscript tests/fixtures_inference/make_fixtures.R
suppressMessages({library(lme4); library(lmerTest); library(emmeans); library(jsonlite)})
out <- "tests/fixtures_inference"

# the unbalanced data sets: ham and sleepstudy with rows dropped at random
data(ham, package = "lmerTest")
set.seed(1)
ham_unbal <- ham[sort(sample(nrow(ham), round(0.85 * nrow(ham)))), ]
rownames(ham_unbal) <- NULL
set.seed(2)
sleep_unbal <- sleepstudy[sort(sample(nrow(sleepstudy), 140)), ]
rownames(sleep_unbal) <- NULL
sleep_unbal$w <- 1 + (sleep_unbal$Days %% 3)   # prior weights (pbkrtest leaves them out of Sigma)
write.csv(ham_unbal, file.path(out, "ham_unbalanced.csv"), row.names = FALSE)
write.csv(sleep_unbal, file.path(out, "sleepstudy_unbalanced.csv"), row.names = FALSE)
data(cake, package = "lme4")
# 2000 rows of InstEval: three crossed grouping factors (s, d, dept) small enough for pbkrtest
set.seed(3)
inst_rows <- sort(sample(nrow(InstEval), 2000))
inst_sub <- droplevels(InstEval[inst_rows, ])

levels_of <- function(d) { r <- list(); for (v in names(d)) if (is.factor(d[[v]])) r[[v]] <- levels(d[[v]]); r }

coef_tab <- function(m, ddf) {
  ct <- as.data.frame(coef(summary(m, ddf = ddf)))
  list(names = rownames(ct), estimate = ct$Estimate, se = ct[["Std. Error"]], df = ct$df,
       t = ct[["t value"]], p = ct[["Pr(>|t|)"]])
}
anova_tab <- function(m, type, ddf) {
  a <- as.data.frame(anova(m, type = type, ddf = ddf))
  list(terms = rownames(a), SumSq = a[["Sum Sq"]], MeanSq = a[["Mean Sq"]], NumDF = a$NumDF,
       DenDF = a$DenDF, F = a[["F value"]], p = a[["Pr(>F)"]])
}
emm <- function(m, specs, by = NULL, ddf = "kenward-roger", adjust = "tukey", level = 0.95) {
  e <- emmeans(m, specs, by = by, lmer.df = ddf, level = level)
  s <- as.data.frame(summary(e))
  p <- as.data.frame(summary(pairs(e, adjust = adjust)))
  grid <- lapply(c(specs, by), function(f) as.character(s[[f]]))
  names(grid) <- c(specs, by)
  pby <- lapply(by, function(f) as.character(p[[f]])); names(pby) <- by
  list(specs = as.list(specs), by = as.list(by), ddf = ddf, adjust = adjust, level = level,
       emmeans = c(grid, list(emmean = s$emmean, SE = s$SE, df = s$df, lower.CL = s$lower.CL, upper.CL = s$upper.CL)),
       contrasts = c(list(contrast = as.character(p$contrast)), pby,
                     list(estimate = p$estimate, SE = p$SE, df = p$df, t.ratio = p$t.ratio, p.value = p$p.value)))
}

case <- function(name, dataset, d, formula, emms = list(), weights = NULL, rows = NULL) {
  env <- new.env(); assign(dataset, d, envir = env)
  m <- if (is.null(weights)) eval(bquote(lmerTest::lmer(.(as.formula(formula)), data = .(as.name(dataset)))), env) else
    eval(bquote(lmerTest::lmer(.(as.formula(formula)), data = .(as.name(dataset)), weights = .(as.name(weights)))), env)
  an <- list()
  for (type in c("1", "2", "3")) for (ddf in c("Satterthwaite", "Kenward-Roger"))
    an[[paste0("type", type, if (ddf == "Kenward-Roger") "_kr" else "")]] <- anova_tab(m, type, ddf)
  res <- list(name = name, dataset = dataset, formula = formula, weights = weights, rows = rows, nobs = nobs(m),
              theta = unname(getME(m, "theta")), sigma = sigma(m), levels = levels_of(d),
              vcov = unname(as.matrix(vcov(m))),
              vcov_adj = unname(as.matrix(pbkrtest::vcovAdj(m))),
              coef_satterthwaite = coef_tab(m, "Satterthwaite"), coef_kr = coef_tab(m, "Kenward-Roger"),
              anova = an, emmeans = lapply(emms, function(a) do.call(emm, c(list(m), a))))
  write(toJSON(res, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
        file.path(out, paste0(name, ".json")))
}

case("cake_numeric_temp", "cake", cake, "angle ~ recipe * temp + (1 | recipe:replicate)",
     list(list(specs = "recipe"), list(specs = "recipe", ddf = "satterthwaite", adjust = "holm")))
case("ham_unbalanced", "ham_unbal", ham_unbal, "Informed.liking ~ Product * Information + (1 | Consumer)",
     list(list(specs = "Product"),
          list(specs = "Product", ddf = "satterthwaite", adjust = "bonferroni", level = 0.9),
          list(specs = "Product", by = "Information"),
          list(specs = c("Product", "Information"), ddf = "satterthwaite", adjust = "holm"),
          list(specs = "Information", adjust = "none")))
case("ham_unbalanced_covariate", "ham_unbal", ham_unbal,
     "Informed.liking ~ Gender + Age * Product + Information + (1 | Consumer) + (1 | Consumer:Product)",
     list(list(specs = "Product"), list(specs = "Gender", by = "Information", ddf = "satterthwaite")))
case("sleepstudy_unbalanced", "sleep_unbal", sleep_unbal, "Reaction ~ Days + (Days | Subject)")
case("sleepstudy_unbalanced_weights", "sleep_unbal", sleep_unbal, "Reaction ~ Days + (Days | Subject)", weights = "w")
case("insteval_subset", "inst_sub", inst_sub, "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
     list(list(specs = "service")), rows = inst_rows)

# ANOVA only: formulas where lmerTest's rules show (a factor coded by dummies when its margin is
# missing from the formula; containment judged on contrast-coded variables only; no intercept)
anova_case <- function(name, dataset, d, formula) {
  env <- new.env(); assign(dataset, d, envir = env)
  m <- suppressMessages(eval(bquote(lmerTest::lmer(.(as.formula(formula)), data = .(as.name(dataset)))), env))
  an <- list()
  for (type in c("1", "2", "3")) for (ddf in c("Satterthwaite", "Kenward-Roger"))
    an[[paste0("type", type, if (ddf == "Kenward-Roger") "_kr" else "")]] <- anova_tab(m, type, ddf)
  res <- list(name = name, dataset = dataset, formula = formula, nobs = nobs(m), levels = levels_of(d),
              theta = unname(getME(m, "theta")), sigma = sigma(m), anova = an)
  write(toJSON(res, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
        file.path(out, paste0(name, ".json")))
}
anova_case("ham_interaction_only", "ham_unbal", ham_unbal, "Informed.liking ~ Gender + Product:Information + (1 | Consumer)")
anova_case("ham_slopes_by_product", "ham_unbal", ham_unbal, "Informed.liking ~ Information + Age:Product + (1 | Consumer)")
anova_case("ham_three_way", "ham_unbal", ham_unbal, "Informed.liking ~ Product * Information * Gender + Age + (1 | Consumer)")
anova_case("ham_no_intercept", "ham_unbal", ham_unbal, "Informed.liking ~ 0 + Product + Information + Age:Information + (1 | Consumer)")
