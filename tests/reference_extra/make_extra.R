# Extra reference cases (beyond tests/reference) from R lme4 / lmerTest / pbkrtest (+ emmeans if installed).
# Same JSON layout as tests/reference/make_reference.R; helpers copied from there, with these additions:
#   * write_data: character columns get type "character" (lmer turns them into factors with sorted levels)
#   * case_lmm: optional extra fields via `extra` (anova_type1/2 (+_kr), drop1, emmeans, contrasts, ...),
#     plus r_warnings / lme4_messages (what R said while fitting)
#   * case_glmm: optional weights column (field `weights`), `sigma`; z/p taken by position because
#     families with a scale parameter (Gamma) report "t value" and no p-value (p is then null)
#   * case_glmm_nb: glmer.nb, adds `theta_nb`
#   * case_lrt: writes its data set too
# Usage (from the repository root): Rscript tests/reference_extra/make_extra.R tests/reference_extra
suppressMessages({library(lme4); library(lmerTest); library(jsonlite); library(mlmRev)
  library(nlme, include.only=c("Orthodont", "ergoStool", "Oats"))})
has_emmeans <- requireNamespace("emmeans", quietly=TRUE)
args <- commandArgs(TRUE); out <- if (length(args)) args[1] else "tests/reference_extra"
dir.create(file.path(out, "data"), recursive=TRUE, showWarnings=FALSE)
dir.create(file.path(out, "cases"), recursive=TRUE, showWarnings=FALSE)

written <- character(0)
write_data <- function(name, d) {
  if (name %in% written) return(invisible())
  d <- as.data.frame(d)
  meta <- list()
  for (v in names(d)) {
    if (is.factor(d[[v]])) meta[[v]] <- list(type="factor", levels=levels(d[[v]]), ordered=is.ordered(d[[v]]))
    else if (is.logical(d[[v]])) meta[[v]] <- list(type="logical")
    else if (is.character(d[[v]])) meta[[v]] <- list(type="character")
    else meta[[v]] <- list(type=if (is.integer(d[[v]])) "integer" else "numeric")
  }
  dd <- d; for (v in names(dd)) if (is.factor(dd[[v]])) dd[[v]] <- as.character(dd[[v]])
  write.csv(dd, file.path(out, "data", paste0(name, ".csv")), row.names=FALSE, na="")
  write(toJSON(list(name=name, nrow=nrow(d), columns=meta), auto_unbox=TRUE, pretty=TRUE, digits=NA),
        file.path(out, "data", paste0(name, ".json")))
  written <<- c(written, name)
}

vc_table <- function(m) {
  v <- as.data.frame(VarCorr(m))
  v$var1[is.na(v$var1)] <- ""; v$var2[is.na(v$var2)] <- ""
  v
}

ranef_list <- function(m) {
  re <- ranef(m, condVar=TRUE); df <- as.data.frame(re)
  lapply(names(re), function(g) {
    r <- re[[g]]; sub <- df[df$grpvar == g, ]
    sds <- sapply(colnames(r), function(tm) { x <- sub[sub$term == tm, ]; x$condsd[match(rownames(r), as.character(x$grp))] })
    if (is.null(dim(sds))) sds <- matrix(sds, ncol=ncol(r))
    list(group=g, levels=rownames(r), terms=colnames(r), values=unname(as.matrix(r)), condsd=unname(sds))
  })
}

# evaluate expr, collecting warning messages (muffled) into attr "warnings"
with_warnings <- function(expr) {
  w <- character(0)
  val <- withCallingHandlers(expr, warning=function(cond) { w <<- c(w, conditionMessage(cond)); invokeRestart("muffleWarning") })
  attr(val, "warnings") <- w
  val
}
lme4_msgs <- function(m) { x <- m@optinfo$conv$lme4$messages; if (is.null(x)) character(0) else as.character(x) }

case_lmm <- function(name, dataname, d, formula, REML=TRUE, extra=list(), weights_col=NULL) {
  write_data(dataname, d)
  t0 <- proc.time()[["elapsed"]]
  env <- new.env(); assign(dataname, d, envir=env)
  fo <- as.formula(formula, env=env)  # so that update() (ranova, drop1, profile) finds the data
  m <- with_warnings(if (is.null(weights_col)) eval(bquote(lmerTest::lmer(.(fo), data=.(as.name(dataname)), REML=.(REML))), env) else
    eval(bquote(lmerTest::lmer(.(fo), data=.(as.name(dataname)), REML=.(REML), weights=.(as.name(weights_col)))), env))
  warns <- attr(m, "warnings"); attr(m, "warnings") <- NULL
  el <- proc.time()[["elapsed"]] - t0
  s <- summary(m)
  ct <- as.data.frame(coef(s))
  small <- nobs(m) <= 2500  # pbkrtest forms n x n matrices
  kr <- if (small) tryCatch(as.data.frame(coef(summary(m, ddf="Kenward-Roger"))), error=function(e) NULL) else NULL
  an <- tryCatch(as.data.frame(anova(m, type=3)), error=function(e) NULL)
  an_kr <- if (small) tryCatch(as.data.frame(anova(m, type=3, ddf="Kenward-Roger")), error=function(e) NULL) else NULL
  sr <- quantile(residuals(m, type="pearson", scaled=TRUE), names=FALSE)
  res <- list(
    name=name, kind="lmm", dataset=dataname, formula=formula, REML=REML, weights=weights_col,
    nobs=nobs(m), ngrps=as.list(ngrps(m)),
    objective=if (REML) REMLcrit(m) else deviance(m),
    reml_criterion=if (REML) REMLcrit(m) else NULL,
    deviance_ml=if (!REML) deviance(m) else NULL,
    logLik=as.numeric(logLik(m)), df=attr(logLik(m), "df"), AIC=AIC(m), BIC=BIC(m),
    sigma=sigma(m), theta=unname(getME(m, "theta")), theta_names=names(getME(m, "theta")),
    singular=isSingular(m),
    fixef=list(names=rownames(ct), estimate=ct$Estimate, se=ct[["Std. Error"]],
               df=ct$df, t=ct[["t value"]], p=ct[["Pr(>|t|)"]]),
    fixef_kr=if (!is.null(kr)) list(names=rownames(kr), se=kr[["Std. Error"]], df=kr$df, t=kr[["t value"]], p=kr[["Pr(>|t|)"]]) else NULL,
    vcov=unname(as.matrix(vcov(m))),
    corr_fixef=unname(as.matrix(cov2cor(vcov(m)))),
    varcorr=vc_table(m),
    scaled_residuals=sr,
    fitted_head=unname(head(fitted(m), 10)), residuals_head=unname(head(residuals(m), 10)),
    ranef=ranef_list(m),
    anova_type3=if (!is.null(an)) anova_sat_list(an) else NULL,
    anova_type3_kr=if (!is.null(an_kr)) anova_kr_list(an_kr) else NULL,
    summary_text=paste(capture.output(print(s)), collapse="\n"),
    r_seconds=el,
    r_warnings=warns, lme4_messages=lme4_msgs(m)
  )
  for (k in names(extra)) res[[k]] <- extra[[k]](m)
  write(toJSON(res, auto_unbox=TRUE, pretty=TRUE, digits=NA, null="null", na="null"), file.path(out, "cases", paste0(name, ".json")))
  cat("wrote", name, "\n")
  invisible(m)
}

glmm_result <- function(m, name, dataname, formula, family_name, link, nAGQ, el, warns, weights_col=NULL) {
  s <- summary(m); ct <- as.data.frame(coef(s))
  list(
    name=name, kind="glmm", dataset=dataname, formula=formula, family=family_name, link=link, nAGQ=nAGQ,
    weights=weights_col,
    nobs=nobs(m), ngrps=as.list(ngrps(m)),
    logLik=as.numeric(logLik(m)), df=attr(logLik(m), "df"), AIC=AIC(m), BIC=BIC(m), deviance=deviance(m),
    theta=unname(getME(m, "theta")), singular=isSingular(m), sigma=sigma(m),
    fixef=list(names=rownames(ct), estimate=ct$Estimate, se=ct[["Std. Error"]], z=ct[[3]],
               p=if (ncol(ct) >= 4) ct[[4]] else NULL, stat=colnames(ct)[3]),
    vcov=unname(as.matrix(vcov(m))), varcorr=vc_table(m), ranef=ranef_list(m),
    fitted_head=unname(head(fitted(m), 10)),
    summary_text=paste(capture.output(print(s)), collapse="\n"), r_seconds=el,
    r_warnings=warns, lme4_messages=lme4_msgs(m))
}

case_glmm <- function(name, dataname, d, formula, family, nAGQ=1, weights_col=NULL) {
  write_data(dataname, d)
  t0 <- proc.time()[["elapsed"]]
  env <- new.env(); assign(dataname, d, envir=env); assign("fam", family, envir=env)
  fo <- as.formula(formula, env=env)
  m <- with_warnings(if (is.null(weights_col))
    eval(bquote(lme4::glmer(.(fo), data=.(as.name(dataname)), family=fam, nAGQ=.(nAGQ))), env) else
    eval(bquote(lme4::glmer(.(fo), data=.(as.name(dataname)), family=fam, nAGQ=.(nAGQ), weights=.(as.name(weights_col)))), env))
  warns <- attr(m, "warnings"); attr(m, "warnings") <- NULL
  el <- proc.time()[["elapsed"]] - t0
  res <- glmm_result(m, name, dataname, formula, family$family, family$link, nAGQ, el, warns, weights_col)
  write(toJSON(res, auto_unbox=TRUE, pretty=TRUE, digits=NA, null="null", na="null"), file.path(out, "cases", paste0(name, ".json")))
  cat("wrote", name, "\n")
  invisible(m)
}

# negative binomial GLMM: family recorded as "negative.binomial" (log link), R's family string in family_r
case_glmm_nb <- function(name, dataname, d, formula) {
  write_data(dataname, d)
  t0 <- proc.time()[["elapsed"]]
  env <- new.env(); assign(dataname, d, envir=env)
  fo <- as.formula(formula, env=env)
  m <- with_warnings(eval(bquote(lme4::glmer.nb(.(fo), data=.(as.name(dataname)))), env))
  warns <- attr(m, "warnings"); attr(m, "warnings") <- NULL
  el <- proc.time()[["elapsed"]] - t0
  res <- glmm_result(m, name, dataname, formula, "negative.binomial", family(m)$link, 1, el, warns)
  res$family_r <- family(m)$family
  res$theta_nb <- unname(getME(m, "glmer.nb.theta"))
  write(toJSON(res, auto_unbox=TRUE, pretty=TRUE, digits=NA, null="null", na="null"), file.path(out, "cases", paste0(name, ".json")))
  cat("wrote", name, "\n")
  invisible(m)
}

case_lrt <- function(name, dataname, d, formulas, REML=TRUE) {
  write_data(dataname, d)
  ms <- lapply(formulas, function(f) lme4::lmer(as.formula(f), data=d, REML=REML))
  a <- as.data.frame(do.call(anova, c(unname(ms), list(refit=TRUE))))
  res <- list(name=name, kind="lrt", dataset=dataname, formulas=formulas, REML=REML,
              npar=a$npar, AIC=a$AIC, BIC=a$BIC, logLik=a$logLik, deviance=a$deviance, Chisq=a$Chisq, Df=a$Df, p=a[["Pr(>Chisq)"]],
              text=paste(capture.output(print(do.call(anova, c(unname(ms), list(refit=TRUE))))), collapse="\n"))
  write(toJSON(res, auto_unbox=TRUE, pretty=TRUE, digits=NA, null="null", na="null"), file.path(out, "cases", paste0(name, ".json")))
  cat("wrote", name, "\n")
}

# ---- extras (functions of the fitted lmerModLmerTest) ----
anova_sat_list <- function(an) list(terms=rownames(an), SumSq=an[["Sum Sq"]], MeanSq=an[["Mean Sq"]], NumDF=an$NumDF, DenDF=an$DenDF, F=an[["F value"]], p=an[["Pr(>F)"]])
anova_kr_list <- function(an) list(terms=rownames(an), NumDF=an$NumDF, DenDF=an$DenDF, F=an[["F value"]], p=an[["Pr(>F)"]])
anova_t1 <- function(m) anova_sat_list(as.data.frame(anova(m, type=1)))
anova_t2 <- function(m) anova_sat_list(as.data.frame(anova(m, type=2)))
anova_t1_kr <- function(m) anova_kr_list(as.data.frame(anova(m, type=1, ddf="Kenward-Roger")))
anova_t2_kr <- function(m) anova_kr_list(as.data.frame(anova(m, type=2, ddf="Kenward-Roger")))
drop1_tab <- function(m) anova_sat_list(as.data.frame(drop1(m)))
drop1_tab_kr <- function(m) anova_kr_list(as.data.frame(drop1(m, ddf="Kenward-Roger")))
profile_ci <- function(m) { ci <- confint(m, method="profile", oldNames=FALSE); list(names=rownames(ci), lower=ci[,1], upper=ci[,2]) }
wald_ci <- function(m) { ci <- confint(m, method="Wald", oldNames=FALSE); ok <- !is.na(ci[,1]); list(names=rownames(ci)[ok], lower=ci[ok,1], upper=ci[ok,2]) }
ranova_tab <- function(m) { r <- as.data.frame(lmerTest::ranova(m)); list(terms=rownames(r), npar=r$npar, logLik=r$logLik, AIC=r$AIC, LRT=r$LRT, Df=r$Df, p=r[["Pr(>Chisq)"]]) }
# rows 1..6 of the model frame (after na.omit), taken from the original data so that
# poly()/scale() terms are re-evaluated with the fitted data's parameters
pred_new <- function(m) {
  d <- get(as.character(m@call$data), envir=environment(formula(m)))
  nd <- d[rownames(model.frame(m))[1:6], , drop=FALSE]
  list(population=unname(predict(m, newdata=nd, re.form=NA)), conditional=unname(predict(m, newdata=nd)))
}
# emmeans for one factor (averaged over the other factors with equal weights, covariates at their mean)
# df_method: "kenward-roger" or "satterthwaite"; contrasts are pairwise with emmeans' default (tukey) adjustment
emm_fields <- function(spec, df_method) {
  force(spec); force(df_method)
  list(
    emm = function(m) {
      e <- emmeans::emmeans(m, spec, lmer.df=df_method); s <- as.data.frame(summary(e))
      list(factor=spec, df_method=df_method, levels=as.character(s[[spec]]), emmean=s$emmean, SE=s$SE, df=s$df,
           lower.CL=s$lower.CL, upper.CL=s$upper.CL, level=0.95,
           text=paste(capture.output(print(e)), collapse="\n"))
    },
    con = function(m) {
      e <- emmeans::emmeans(m, spec, lmer.df=df_method); pc <- pairs(e); s <- as.data.frame(summary(pc))
      adj <- attr(summary(pc), "adjust"); if (is.null(adj)) adj <- "tukey"
      list(factor=spec, df_method=df_method, method="pairwise", contrast=as.character(s$contrast), estimate=s$estimate,
           SE=s$SE, df=s$df, t.ratio=s$t.ratio, p.value=s$p.value, adjust=adj,
           text=paste(capture.output(print(pc)), collapse="\n"))
    })
}
inference_extras <- function(emm_spec=NULL, profile=TRUE) {
  ex <- list(anova_type1=anova_t1, anova_type2=anova_t2, anova_type1_kr=anova_t1_kr, anova_type2_kr=anova_t2_kr,
             drop1=drop1_tab, drop1_kr=drop1_tab_kr, ranova=ranova_tab,
             confint_profile=profile_ci, confint_wald=wald_ci, predict_rows1to6=pred_new)
  if (!profile) ex$confint_profile <- NULL
  if (has_emmeans && !is.null(emm_spec)) {
    kr <- emm_fields(emm_spec, "kenward-roger"); sat <- emm_fields(emm_spec, "satterthwaite")
    ex$emmeans <- kr$emm; ex$contrasts <- kr$con
    ex$emmeans_satterthwaite <- sat$emm; ex$contrasts_satterthwaite <- sat$con
  }
  ex
}

# ---- run each case; a failing case is dropped and reported ----
dropped <- character(0)
run_case <- function(expr) {
  cl <- substitute(expr); nm <- tryCatch(eval(cl[[2]]), error=function(e) deparse(cl[[2]]))
  tryCatch(expr, error=function(e) {
    dropped <<- c(dropped, paste0(nm, ": ", conditionMessage(e)))
    cat("DROPPED", nm, ":", conditionMessage(e), "\n")
  })
}
unorder <- function(d) { d <- as.data.frame(d); for (v in names(d)) if (is.ordered(d[[v]])) d[[v]] <- factor(d[[v]], levels=levels(d[[v]]), ordered=FALSE); d }
strip_nlme <- function(d) { d <- unorder(d); attributes(d)[setdiff(names(attributes(d)), c("names", "row.names", "class"))] <- NULL; class(d) <- "data.frame"; d }

# ---- data sets ----
ss <- sleepstudy
ss_w <- sleepstudy; ss_w$w <- 0.5 + ((seq_len(nrow(ss_w)) * 7) %% 5) / 4   # deterministic positive weights 0.5..1.5

# psycholinguistic design: 30 subjects x 24 items, condition counterbalanced (Latin square), one trial per pair
psy <- local({
  set.seed(3)
  ns <- 30; ni <- 24
  d <- expand.grid(item=seq_len(ni), subj=seq_len(ns))
  d$cond <- factor(ifelse((d$subj + d$item) %% 2 == 0, "related", "unrelated"), levels=c("related", "unrelated"))
  S <- matrix(c(50^2, 0.4*50*30, 0.4*50*30, 30^2), 2); I <- matrix(c(30^2, -0.3*30*25, -0.3*30*25, 25^2), 2)
  bs <- MASS::mvrnorm(ns, c(0, 0), S); bi <- MASS::mvrnorm(ni, c(0, 0), I)
  x <- as.numeric(d$cond == "unrelated") - 0.5
  freq <- round(rnorm(ni, 3, 1), 2)
  d$freq <- freq[d$item]
  d$rt <- round(600 + 40*x - 10*(d$freq - 3) + bs[d$subj, 1] + bs[d$subj, 2]*x + bi[d$item, 1] + bi[d$item, 2]*x + rnorm(nrow(d), 0, 50), 1)
  eta <- 1.2 - 0.6*x + (0.8*rnorm(ns))[d$subj] + (0.7*rnorm(ns))[d$subj]*x + (0.5*rnorm(ni))[d$item]
  d$acc <- rbinom(nrow(d), 1, plogis(eta))
  d$subj <- factor(sprintf("s%02d", d$subj)); d$item <- factor(sprintf("i%02d", d$item))
  d[, c("subj", "item", "cond", "freq", "rt", "acc")]
})

# growth curves: quadratic random effects (1 + x + I(x^2) | g)
growth <- local({
  set.seed(8)
  ng <- 40; x <- 0:6
  d <- expand.grid(x=x, g=seq_len(ng))
  S <- diag(c(2, 0.8, 0.15)) %*% matrix(c(1, 0.3, -0.2, 0.3, 1, -0.4, -0.2, -0.4, 1), 3) %*% diag(c(2, 0.8, 0.15))
  b <- MASS::mvrnorm(ng, c(0, 0, 0), S)
  d$y <- round(10 + 2*d$x - 0.2*d$x^2 + b[d$g, 1] + b[d$g, 2]*d$x + b[d$g, 3]*d$x^2 + rnorm(nrow(d), 0, 1), 3)
  d$g <- factor(paste0("g", d$g), levels=paste0("g", seq_len(ng)))
  d[, c("g", "x", "y")]
})

# three-level within-subject factor with a factor random slope (1 + cond3 | subj)
fac3 <- local({
  set.seed(7)
  ns <- 25
  d <- expand.grid(rep=1:4, cond3=c("A", "B", "C"), subj=seq_len(ns))
  S <- diag(c(3, 1.5, 2)) %*% matrix(c(1, 0.2, -0.3, 0.2, 1, 0.5, -0.3, 0.5, 1), 3) %*% diag(c(3, 1.5, 2))
  b <- MASS::mvrnorm(ns, c(0, 0, 0), S)
  k <- as.integer(factor(d$cond3))
  d$y <- round(20 + c(0, 2, -1)[k] + b[d$subj, 1] + ifelse(k == 2, b[d$subj, 2], 0) + ifelse(k == 3, b[d$subj, 3], 0) + rnorm(nrow(d), 0, 2), 3)
  d$cond3 <- factor(d$cond3, levels=c("A", "B", "C"))
  d$subj <- factor(sprintf("p%02d", d$subj))
  d[, c("subj", "cond3", "rep", "y")]
})

# three nested levels region / school / class with labels reused inside each parent
nest3 <- local({
  set.seed(303)
  d <- expand.grid(obs=1:5, class=1:3, school=1:3, region=1:8)
  ur <- rnorm(8, 0, 3); us <- rnorm(24, 0, 2); uc <- rnorm(72, 0, 1.5)
  si <- (d$region - 1) * 3 + d$school; ci <- (si - 1) * 3 + d$class
  d$x <- round(runif(nrow(d), 0, 10), 2)
  d$y <- round(50 + 0.8*d$x + ur[d$region] + us[si] + uc[ci] + rnorm(nrow(d), 0, 2), 3)
  d$region <- factor(LETTERS[d$region]); d$school <- factor(d$school); d$class <- factor(d$class)
  d[, c("region", "school", "class", "x", "y")]
})

# fixed-part functions: log(x1), scale(x2), I(x2^2), poly(x2, 2)
funcs <- local({
  set.seed(42)
  ng <- 15; n <- 12
  d <- data.frame(g=factor(rep(sprintf("h%02d", seq_len(ng)), each=n)))
  d$x1 <- round(exp(runif(nrow(d), 0, 3)), 3)
  d$x2 <- round(rnorm(nrow(d), 50, 10), 2)
  u <- rnorm(ng, 0, 2)
  d$y <- round(5 + 1.5*log(d$x1) + 0.1*(d$x2 - 50) + 0.01*(d$x2 - 50)^2 + u[as.integer(d$g)] + rnorm(nrow(d), 0, 1.5), 3)
  d
})

# NA values in used and unused columns; grouping column is a character (string) column with
# labels whose lexicographic order differs from numeric order ("site10" < "site2")
na_str <- local({
  set.seed(99)
  ns <- 14; n <- 10
  site <- sample(paste0("site", seq_len(ns)))          # shuffled order of appearance
  d <- data.frame(site=rep(site, each=n), stringsAsFactors=FALSE)
  d$x <- round(rnorm(nrow(d), 0, 1), 3)
  d$z <- round(runif(nrow(d)), 3)
  u <- rnorm(ns, 0, 1.2); names(u) <- site
  d$y <- round(3 + 0.7*d$x + u[d$site] + rnorm(nrow(d), 0, 1), 3)
  d$y[c(3, 17, 45, 88, 120)] <- NA
  d$x[c(9, 60, 101)] <- NA
  d$unused <- round(rnorm(nrow(d)), 2); d$unused[c(1, 2, 50, 77)] <- NA   # must NOT drop rows
  d
})

# singular fit: random slope with no true slope variance, few groups -> REML estimate has correlation -1
sing <- local({
  set.seed(1)
  ng <- 6; x <- 1:10
  d <- expand.grid(x=x, g=seq_len(ng))
  u <- rnorm(ng, 0, 1)
  d$y <- round(2 + 0.5*d$x + u[d$g] + rnorm(nrow(d), 0, 1), 3)
  d$g <- factor(paste0("G", d$g))
  d
})

# Poisson counts with exposure; Gamma responses; negative binomial counts
cnt <- local({
  set.seed(123)
  ng <- 25; n <- 12
  d <- data.frame(g=factor(rep(sprintf("r%02d", seq_len(ng)), each=n)))
  d$x <- round(rnorm(nrow(d)), 3)
  d$exposure <- round(runif(nrow(d), 0.5, 5), 2)
  u <- rnorm(ng, 0, 0.5)
  mu <- d$exposure * exp(0.3 + 0.4*d$x + u[as.integer(d$g)])
  d$count <- rpois(nrow(d), mu)
  mu_nb <- exp(1 + 0.5*d$x + u[as.integer(d$g)])
  d$nbcount <- MASS::rnegbin(nrow(d), mu_nb, theta=2.5)
  shape <- 4; mu_g <- exp(1 + 0.3*d$x + 0.6*u[as.integer(d$g)])
  d$gy <- round(rgamma(nrow(d), shape=shape, rate=shape/mu_g), 4)
  d
})

cbpp_p <- cbpp; cbpp_p$prop <- cbpp_p$incidence / cbpp_p$size

orth <- strip_nlme(Orthodont)
ergo <- strip_nlme(ergoStool)
oats <- strip_nlme(Oats)
ck <- cake; ck$temperature <- factor(ck$temperature, ordered=FALSE)

# ---- cases ----
# lmm
run_case(case_lmm("sleepstudy_weights", "sleepstudy_w", ss_w, "Reaction ~ Days + (Days | Subject)", weights_col="w",
                  extra=list(predict_rows1to6=pred_new)))
run_case(case_lmm("sleepstudy_weights_ml", "sleepstudy_w", ss_w, "Reaction ~ Days + (1 | Subject)", REML=FALSE, weights_col="w"))
run_case(case_lmm("growth_quadratic_slope", "growth", growth, "y ~ x + I(x^2) + (1 + x + I(x^2) | g)"))
run_case(case_lmm("factor3_slope", "fac3", fac3, "y ~ cond3 + (1 + cond3 | subj)",
                  extra=list(anova_type1=anova_t1, anova_type2=anova_t2)))
run_case(case_lmm("psycholing_crossed_slopes", "psycholing", psy, "rt ~ cond + (1 + cond | subj) + (1 + cond | item)",
                  extra=list(ranova=ranova_tab, confint_wald=wald_ci)))
run_case(case_lmm("psycholing_crossed_slopes_ml", "psycholing", psy, "rt ~ cond * freq + (1 + cond | subj) + (1 + cond | item)", REML=FALSE))
run_case(case_lmm("sleepstudy_zero_intercept_slope", "sleepstudy", ss, "Reaction ~ Days + (0 + Days | Subject)"))
run_case(case_lmm("sleepstudy_split_terms", "sleepstudy", ss, "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"))
run_case(case_lmm("sleepstudy_poly2", "sleepstudy", ss, "Reaction ~ poly(Days, 2) + (1 | Subject)", extra=list(predict_rows1to6=pred_new)))
run_case(case_lmm("oats_interaction_only", "Oats", oats, "yield ~ nitro + Variety + (1 | Block:Variety)"))
run_case(case_lmm("oats_nested", "Oats", oats, "yield ~ nitro + (1 | Block/Variety)", extra=list(confint_profile=profile_ci)))
run_case(case_lmm("nested_three_levels", "nest3", nest3, "y ~ x + (1 | region/school/class)", extra=list(ranova=ranova_tab)))
run_case(case_lmm("functions_log_scale_I", "funcs", funcs, "y ~ log(x1) + scale(x2) + I(x2^2) + (1 | g)", extra=list(predict_rows1to6=pred_new)))
run_case(case_lmm("functions_poly", "funcs", funcs, "y ~ log(x1) + poly(x2, 2) + (1 | g)"))
run_case(case_lmm("ergostool_no_intercept", "ergoStool", ergo, "effort ~ 0 + Type + (1 | Subject)"))
run_case(case_lmm("ergostool_factor4", "ergoStool", ergo, "effort ~ Type + (1 | Subject)",
                  extra=list(confint_profile=profile_ci, ranova=ranova_tab)))
run_case(case_lmm("orthodont_age_sex", "Orthodont", orth, "distance ~ age * Sex + (age | Subject)", extra=list(predict_rows1to6=pred_new)))
run_case(case_lmm("orthodont_age_sex_ml", "Orthodont", orth, "distance ~ age * Sex + (age | Subject)", REML=FALSE))
run_case(case_lmm("na_string_group", "na_str", na_str, "y ~ x + (1 | site)", extra=list(predict_rows1to6=pred_new)))
run_case(case_lmm("na_string_group_slope_ml", "na_str", na_str, "y ~ x + z + (1 + x | site)", REML=FALSE))
run_case(case_lmm("singular_random_slope", "singular", sing, "y ~ x + (1 + x | g)"))
run_case(case_lmm("sleepstudy_no_intercept_numeric", "sleepstudy", ss, "Reaction ~ 0 + Days + (Days | Subject)"))
# lmm inference extras (factorial designs)
run_case(case_lmm("ham_factorial_inference", "ham", ham,
                  "Informed.liking ~ Gender + Age + Information * Product + (1 | Consumer) + (1 | Consumer:Product)",
                  extra=inference_extras("Product")))
run_case(case_lmm("cake_factorial_inference", "cake", ck, "angle ~ recipe * temperature + (1 | recipe:replicate)",
                  extra=inference_extras("recipe")))
run_case(case_lmm("carrots_na_slopes_inference", "carrots", carrots,
                  "Preference ~ sens2 + Homesize + (1 + sens2 | Consumer) + (1 | Product)",
                  extra=inference_extras("Homesize", profile=FALSE)))  # profile of the slope correlation is non-monotonic in R
# lrt
run_case(case_lrt("sleepstudy_lrt3_reml", "sleepstudy", ss,
                  c("Reaction ~ 1 + (1 | Subject)", "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)")))
run_case(case_lrt("orthodont_lrt_ml", "Orthodont", orth,
                  c("distance ~ age + Sex + (age | Subject)", "distance ~ age * Sex + (age | Subject)"), REML=FALSE))
run_case(case_lrt("psycholing_lrt_slopes", "psycholing", psy,
                  c("rt ~ cond + (1 | subj) + (1 | item)", "rt ~ cond + (1 + cond | subj) + (1 | item)", "rt ~ cond + (1 + cond | subj) + (1 + cond | item)")))
# glmm
run_case(case_glmm("cbpp_probit", "cbpp", cbpp, "cbind(incidence, size - incidence) ~ period + (1 | herd)", binomial(link="probit")))
run_case(case_glmm("cbpp_proportion_weights", "cbpp_prop", cbpp_p, "prop ~ period + (1 | herd)", binomial(), weights_col="size"))
run_case(case_glmm("cbpp_binomial_nagq0", "cbpp", cbpp, "cbind(incidence, size - incidence) ~ period + (1 | herd)", binomial(), nAGQ=0))
run_case(case_glmm("psycholing_bernoulli_crossed", "psycholing", psy, "acc ~ cond + (1 | subj) + (1 | item)", binomial()))
run_case(case_glmm("psycholing_bernoulli_slope", "psycholing", psy, "acc ~ cond + freq + (1 + cond | subj) + (1 | item)", binomial()))
run_case(case_glmm("poisson_offset_exposure", "counts", cnt, "count ~ x + offset(log(exposure)) + (1 | g)", poisson()))
run_case(case_glmm("gamma_log", "counts", cnt, "gy ~ x + (1 | g)", Gamma(link="log")))
run_case(case_glmm_nb("negbin_counts", "counts", cnt, "nbcount ~ x + (1 | g)"))

if (length(dropped)) { cat("\nDropped cases:\n"); cat(paste0("  ", dropped, "\n"), sep="") } else cat("\nno case dropped\n")
cat("emmeans available:", has_emmeans, "\n")
cbpp_o <- cbpp; cbpp_o$obs <- factor(seq_len(nrow(cbpp_o)))
run_case(case_glmm("cbpp_observation_level", "cbpp_obs", cbpp_o, "cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", binomial()))
contra <- as.data.frame(Contraception)
run_case(case_glmm("contraception_urban_slope", "Contraception", contra, "use ~ age + I(age^2) + urban + livch + (urban | district)", binomial()))
run_case(case_glmm("grouseticks_two_terms", "grouseticks", grouseticks, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", poisson()))
suppressMessages({library(nlme, include.only=c("Machines","Rail","BodyWeight")); library(mlmRev)})
mach <- strip_nlme(nlme::Machines)
bw <- strip_nlme(nlme::BodyWeight)
exam <- as.data.frame(Exam)
oxb <- strip_nlme(Oxboys)
early <- as.data.frame(Early)
bdf_ <- as.data.frame(bdf)[, c("langPOST","IQ.verb","sex","schoolNR","ses")]
scot <- as.data.frame(ScotsSec)
mmm <- as.data.frame(Mmmec)
ara <- as.data.frame(Arabidopsis)
gcse <- as.data.frame(Gcsemv)
run_case(case_lmm("machines_interaction_re", "Machines", mach, "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"))
run_case(case_lmm("machines_vector_re", "Machines", mach, "score ~ Machine + (0 + Machine | Worker)"))
run_case(case_lmm("exam_school", "Exam", exam, "normexam ~ standLRT + sex + schgend + (1 | school)"))
run_case(case_lmm("exam_slope", "Exam", exam, "normexam ~ standLRT + (standLRT | school)"))
run_case(case_lmm("oxboys_quadratic", "Oxboys", oxb, "height ~ age + I(age^2) + (age | Subject)"))
run_case(case_lmm("early_trt_age", "Early", early, "cog ~ trt * age + (age | id)"))
run_case(case_lmm("bdf_iq", "bdf", bdf_, "langPOST ~ IQ.verb + sex + ses + (1 | schoolNR)"))
run_case(case_lmm("scots_crossed", "ScotsSec", scot, "attain ~ verbal * sex + (1 | primary) + (1 | second)"))
run_case(case_lmm("bodyweight_diet", "BodyWeight", bw, "weight ~ Time * Diet + (Time | Rat)"))
run_case(case_lmm("gcse_na", "Gcsemv", gcse, "course ~ gender + (1 | school)"))
run_case(case_glmm("mmmec_offset", "Mmmec", mmm, "deaths ~ uvb + offset(log(expected)) + (1 | region)", poisson()))
run_case(case_glmm("arabidopsis_poisson", "Arabidopsis", ara, "total.fruits ~ nutrient + amd + status + (1 | popu) + (1 | gen)", poisson()))
