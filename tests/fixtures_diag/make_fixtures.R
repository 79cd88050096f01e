# Expected numbers for tests/test_predict.py and tests/test_diagnostics.py.
# Made with R 4.2, lme4 1.1-31, performance 0.10.2 / insight 0.19.0 (Debian bookworm packages).
# Usage (from the project root):  Rscript tests/fixtures_diag/make_fixtures.R
# Writes tests/fixtures_diag/expected.json. The tests never call R.
suppressMessages({library(lme4); library(performance); library(insight); library(jsonlite)})
out <- list()
vec <- function(x) unname(as.numeric(x))

perf <- function(m) {
  w <- character(0)
  ic <- withCallingHandlers(icc(m), warning=function(e) { w <<- c(w, conditionMessage(e)); invokeRestart("muffleWarning") })
  r <- withCallingHandlers(r2_nakagawa(m), warning=function(e) { w <<- c(w, conditionMessage(e)); invokeRestart("muffleWarning") })
  v <- suppressWarnings(get_variance(m))
  list(icc_adjusted=if (is.list(ic)) ic$ICC_adjusted else NA,
       icc_unadjusted=if (is.list(ic)) ic$ICC_unadjusted else NA,
       r2_marginal=if (is.list(r)) vec(r$R2_marginal) else NA,
       r2_conditional=if (is.list(r)) vec(r$R2_conditional) else NA,
       var_fixed=v$var.fixed, var_random=if (is.null(v$var.random)) NA else v$var.random,
       var_residual=v$var.residual, warnings=w)
}

basic <- function(m) c(list(hatvalues=vec(hatvalues(m)), cooks_hat=vec(cooks.distance(m)),
                          resid_pearson_scaled=vec(residuals(m, type="pearson", scaled=TRUE))), perf(m))

infl <- function(m, groups=NULL) {
  inf <- if (is.null(groups)) influence(m) else influence(m, groups=groups)
  db <- dfbetas(inf)
  list(units=rownames(db), cooks=vec(cooks.distance(inf)), dfbetas=unname(as.matrix(db)),
       dfbeta=unname(as.matrix(dfbeta(inf))))
}

# --- sleepstudy ------------------------------------------------------------------------------------
ss <- sleepstudy
m_slope <- lmer(Reaction ~ Days + (Days | Subject), ss)
nd <- data.frame(Days=c(0, 5, NA, 3, 2, 7.5), Subject=c("308", "999", "308", NA, "309", "372"))
out$slope <- c(basic(m_slope), list(
  influence_subject=infl(m_slope, "Subject"),
  influence_case=infl(m_slope),
  newdata=list(Days=nd$Days, Subject=nd$Subject),
  pred_new_cond=vec(predict(m_slope, nd, allow.new.levels=TRUE)),
  pred_new_pop=vec(predict(m_slope, nd, re.form=NA)),
  pred_new_pop_formula=vec(predict(m_slope, nd, re.form=~0)),
  pred_all=vec(predict(m_slope)),
  pred_all_pop=vec(predict(m_slope, re.form=NA))))

m_int <- lmer(Reaction ~ Days + (1 | Subject), ss)
out$intercept <- basic(m_int)

m_ml <- lmer(Reaction ~ Days + (Days | Subject), ss, REML=FALSE)
out$slope_ml <- perf(m_ml)
out$slope_ml$hatvalues <- vec(hatvalues(m_ml))

m_unc <- lmer(Reaction ~ Days + (Days || Subject), ss)
nd2 <- data.frame(Days=c(0, 5, 9, 3), Subject=c("308", "309", "310", "999"))
out$uncorrelated <- c(perf(m_unc), list(
  newdata=list(Days=nd2$Days, Subject=nd2$Subject),
  pred_int_only=vec(predict(m_unc, nd2, re.form=~(1 | Subject), allow.new.levels=TRUE)),
  pred_slope_only=vec(predict(m_unc, nd2, re.form=~(0 + Days | Subject), allow.new.levels=TRUE)),
  pred_all=vec(predict(m_unc, nd2, allow.new.levels=TRUE))))

m_noslopefix <- lmer(Reaction ~ 1 + (Days | Subject), ss)
out$slope_not_fixed <- perf(m_noslopefix)

# Nakagawa's variances computed by hand from every random-effects term's own model matrix
# (Johnson 2014: mean over rows of z' Sigma z). insight 0.19 keeps only the first VarCorr block of a
# grouping factor (so it drops the slope of (Days || Subject); easystats/insight#304) and drops
# slopes whose variable is not a fixed effect; the package follows the formula, checked here.
by_hand <- function(m) {
  vc <- VarCorr(m); s2 <- sigma(m)^2
  Zl <- getME(m, "mmList")  # the model matrix of each term, in VarCorr's order
  vr <- sum(mapply(function(S, Z) mean(rowSums((Z %*% S) * Z)), vc, Zl))
  vf <- var(drop(getME(m, "X") %*% fixef(m)))
  tot <- vf + vr + s2
  list(var_fixed=vf, var_random=vr, var_residual=s2, icc_adjusted=vr/(vr+s2), icc_unadjusted=vr/tot,
       r2_marginal=vf/tot, r2_conditional=(vf+vr)/tot)
}
out$uncorrelated_by_hand <- by_hand(m_unc)
out$slope_not_fixed_by_hand <- by_hand(m_noslopefix)
out$slope_by_hand <- by_hand(m_slope)

m_poly <- lmer(Reaction ~ poly(Days, 2) + (1 | Subject), ss)
nd3 <- data.frame(Days=c(0.5, 4, 9.5, 12), Subject=c("308", "333", "372", "308"))
out$poly <- list(newdata=list(Days=nd3$Days, Subject=nd3$Subject), pred=vec(predict(m_poly, nd3)),
                 pred_pop=vec(predict(m_poly, nd3, re.form=NA)))
m_scale <- lmer(Reaction ~ scale(Days) + I(Days^2) + (1 | Subject), ss)
out$scale_I <- list(newdata=list(Days=nd3$Days, Subject=nd3$Subject), pred=vec(predict(m_scale, nd3)))

ssw <- ss; ssw$w <- rep(c(1, 2, 0.5), 60)
m_w <- lmer(Reaction ~ Days + (Days | Subject), ssw, weights=w)
out$weighted <- list(weights=ssw$w, hatvalues=vec(hatvalues(m_w)),
                     resid_pearson=vec(residuals(m_w, type="pearson")),
                     resid_response=vec(residuals(m_w, type="response")))

# --- other data sets -------------------------------------------------------------------------------
m_pen <- lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
ndp <- data.frame(plate=c("a", "b", "zz", "x"), sample=c("A", "F", "C", "new"))
out$penicillin <- c(basic(m_pen), list(
  newdata=list(plate=ndp$plate, sample=ndp$sample),
  pred_plate=vec(predict(m_pen, ndp, re.form=~(1 | plate), allow.new.levels=TRUE)),
  pred_all=vec(predict(m_pen, ndp, allow.new.levels=TRUE))))

m_pas <- lmer(strength ~ 1 + (1 | batch/cask), Pastes)
ndq <- data.frame(batch=c("A", "B", "J", "Q"), cask=c("a", "c", "b", "a"))
out$pastes <- c(basic(m_pas), list(
  newdata=list(batch=ndq$batch, cask=ndq$cask),
  pred_batch=vec(predict(m_pas, ndq, re.form=~(1 | batch), allow.new.levels=TRUE)),
  pred_all=vec(predict(m_pas, ndq, allow.new.levels=TRUE))))

m_cake <- lmer(angle ~ recipe * temp + (1 | recipe:replicate), cake)
ndc <- data.frame(recipe=c("B", "C", "A", "A"), temp=c(175, 200, 215, 180), replicate=c("1", "2", "99", "15"))
out$cake <- c(basic(m_cake), list(
  newdata=list(recipe=ndc$recipe, temp=ndc$temp, replicate=ndc$replicate),
  pred=vec(predict(m_cake, ndc, allow.new.levels=TRUE)),
  pred_pop=vec(predict(m_cake, ndc, re.form=NA))))

m_dy2 <- suppressMessages(lmer(Yield ~ 1 + (1 | Batch), Dyestuff2))
out$dyestuff2 <- c(perf(m_dy2), list(hatvalues=vec(hatvalues(m_dy2))))

# --- R's lowess (the smoother of the residual plots) ---------------------------------------------------
set.seed(1); lx <- round(runif(60, 0, 10), 2); ly <- sin(lx) + rnorm(60, sd=0.3); ly[7] <- 4
l1 <- lowess(lx, ly); l2 <- lowess(cars$speed, cars$dist)
out$lowess <- list(x=lx, y=ly, fit=l1$y, cars_x=cars$speed, cars_y=cars$dist, cars_fit=l2$y)

write(toJSON(out, auto_unbox=TRUE, digits=NA, pretty=FALSE, na="null"), "tests/fixtures_diag/expected.json")
cat("wrote tests/fixtures_diag/expected.json\n")
