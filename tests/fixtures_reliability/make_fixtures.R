# Reference numbers for tests/test_hard_models.py: hard but valid models fitted by R (lme4 + lmerTest).
# Each case stores its data set (simulated here with a fixed seed, or from lme4) and what R reported.
# Usage (from the repository root): Rscript tests/fixtures_reliability/make_fixtures.R
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})
out <- "tests/fixtures_reliability/hard_models.json"

col_info <- function(d) lapply(d, function(v) {
  if (is.factor(v)) list(type="factor", levels=levels(v), values=as.character(v))
  else list(type="numeric", values=as.numeric(v))
})

# evaluate expr, collecting warnings and messages (muffled)
capture <- function(expr) {
  w <- character(0); msg <- character(0)
  val <- withCallingHandlers(expr,
    warning=function(cond) { w <<- c(w, conditionMessage(cond)); invokeRestart("muffleWarning") },
    message=function(cond) { msg <<- c(msg, conditionMessage(cond)); invokeRestart("muffleMessage") })
  list(value=val, warnings=w, messages=msg)
}

fit_case <- function(name, formula, d, REML=TRUE) {
  r <- capture(lmer(as.formula(formula), data=d, REML=REML))
  m <- r$value
  ct <- coef(summary(m))
  vc <- as.data.frame(VarCorr(m)); vc$var1[is.na(vc$var1)] <- ""; vc$var2[is.na(vc$var2)] <- ""
  X <- getME(m, "X")
  dropped <- attr(X, "col.dropped")
  list(name=name, formula=formula, REML=REML, data=col_info(d),
       fixef_names=names(fixef(m)), fixef=unname(fixef(m)),
       se=unname(ct[, "Std. Error"]), df=unname(ct[, "df"]), t=unname(ct[, "t value"]),
       p=unname(ct[, "Pr(>|t|)"]),
       vcov=unname(as.matrix(vcov(m))),
       sigma=sigma(m), theta=unname(getME(m, "theta")),
       objective=if (REML) REMLcrit(m) else deviance(m), logLik=as.numeric(logLik(m)),
       varcorr=vc, is_singular=isSingular(m), nobs=nobs(m),
       dropped=if (is.null(dropped)) character(0) else names(dropped),
       gradient=as.numeric(m@optinfo$derivs$gradient), feval=m@optinfo$feval,
       warnings=r$warnings, messages=r$messages)
}

cases <- list()

# 1. rank-deficient fixed effects: an empty cell of A x B and a column that is 2 x - 1
set.seed(101)
n <- 150
d <- data.frame(g=factor(sprintf("g%02d", sample(1:15, n, TRUE))),
                A=factor(sample(c("a", "b", "c"), n, TRUE)), B=factor(sample(c("u", "v"), n, TRUE)),
                x=round(rnorm(n), 3))
d$B[d$A == "c"] <- "u"
d$x2 <- 2 * d$x - 1
u <- rnorm(15)
d$y <- round(1 + 0.5 * d$x + (d$A == "b") - 0.5 * (d$B == "v") + u[as.integer(d$g)] + rnorm(n), 4)
cases[[length(cases) + 1]] <- fit_case("rank_deficient", "y ~ A * B + x + x2 + (1 | g)", d)

# 2. predictors on very different scales (lme4 warns, estimates are still right)
s <- sleepstudy
set.seed(102)
s$DaysMs <- s$Days * 86400000
s$tiny <- round(rnorm(nrow(s)), 4) * 1e-5
cases[[length(cases) + 1]] <- fit_case("different_scales", "Reaction ~ DaysMs + tiny + (Days | Subject)", s)

# 3. singular fits: a zero variance (Dyestuff2) and a slope whose variance is zero
cases[[length(cases) + 1]] <- fit_case("singular_zero_variance", "Yield ~ 1 + (1 | Batch)", Dyestuff2)
set.seed(106)
n <- 120
d <- data.frame(g=factor(sprintf("g%02d", rep(1:12, each=10))), x=round(rnorm(n), 3))
d$y <- round(2 + 0.3 * d$x + rnorm(12, sd=0.5)[as.integer(d$g)] + rnorm(n), 4)
cases[[length(cases) + 1]] <- fit_case("singular_slope", "y ~ x + (x | g)", d)

# 4. one observation per group for some groups
set.seed(104)
sizes <- c(rep(1, 10), sample(2:8, 20, TRUE))
d <- data.frame(g=factor(sprintf("g%02d", rep(seq_along(sizes), sizes))))
d$x <- round(rnorm(nrow(d)), 3)
d$y <- round(5 + d$x + rnorm(length(sizes), sd=1.5)[as.integer(d$g)] + rnorm(nrow(d)), 4)
cases[[length(cases) + 1]] <- fit_case("singletons", "y ~ x + (1 | g)", d)
cases[[length(cases) + 1]] <- fit_case("singletons_ml", "y ~ x + (1 | g)", d, REML=FALSE)

# 5. very unbalanced groups: sizes from 1 to 600
set.seed(105)
sizes <- c(1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 600)
d <- data.frame(g=factor(sprintf("g%02d", rep(seq_along(sizes), sizes))))
d$x <- round(rnorm(nrow(d)), 3)
b <- cbind(rnorm(length(sizes), sd=2), rnorm(length(sizes), sd=0.5))
d$y <- round(10 + b[as.integer(d$g), 1] + (1 + b[as.integer(d$g), 2]) * d$x + rnorm(nrow(d)), 4)
cases[[length(cases) + 1]] <- fit_case("unbalanced", "y ~ x + (1 + x | g)", d)

write(toJSON(cases, auto_unbox=TRUE, pretty=FALSE, digits=NA), out)
cat("wrote", out, "\n")
