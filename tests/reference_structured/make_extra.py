"""Writes make_extra.R, which fits the extra structured cases with glmmTMB 1.1.5 (R, glmmTMB from
Debian's r-cran-glmmtmb) into /tmp/extra/extra.jsonl; extra_cases.jsonl is that file, annotated."""
import json
D = "tests/reference_structured/data"
CASES = [
 ("sleep_ar1_ml", "sleepstudy", "Reaction ~ Days + ar1(0 + fDays | Subject)", False, "gaussian"),
 ("orth_ar1_ml", "Orthodont", "distance ~ age + Sex + ar1(0 + fage | Subject)", False, "gaussian"),
 ("orth_toep_reml", "Orthodont", "distance ~ age + Sex + toep(0 + fage | Subject)", True, "gaussian"),
 ("orth_cs_reml", "Orthodont", "distance ~ age + Sex + cs(0 + fage | Subject)", True, "gaussian"),
 ("orth_homcs_ml", "Orthodont", "distance ~ age + Sex + homcs(0 + fage | Subject)", False, "gaussian"),
 ("machines_homcs_reml", "Machines", "score ~ Machine + homcs(0 + Machine | Worker)", True, "gaussian"),
 ("machines_toep_reml", "Machines", "score ~ Machine + toep(0 + Machine | Worker)", True, "gaussian"),
 ("bw_cs_ml", "BodyWeight", "weight ~ Time * Diet + cs(0 + fTime | Rat)", False, "gaussian"),
 ("cake_cs_reml", "cake", "angle ~ recipe + temp + cs(0 + recipe | replicate)", True, "gaussian"),
 ("cake_homdiag_reml", "cake", "angle ~ recipe + temp + homdiag(0 + recipe | replicate)", True, "gaussian"),
 ("epil_cs_pois", "epil", "y ~ lbase * trt + lage + V4 + cs(0 + fperiod | subject)", False, "poisson"),
 ("epil_toep_pois", "epil", "y ~ lbase * trt + lage + V4 + toep(0 + fperiod | subject)", False, "poisson"),
 ("contra_cs_binom", "Contraception", "use ~ age + I(age^2) + urban + livch + cs(1 + urban | district)", False, "binomial"),
 ("contra_ar1_binom", "Contraception", "use ~ age + urban + ar1(0 + livch | district)", False, "binomial"),
 ("sleep_diag_ml", "sleepstudy", "Reaction ~ Days + diag(Days | Subject)", False, "gaussian"),
 ("sleep_us_ml_two", "sleepstudy", "Reaction ~ Days + us(Days | Subject)", False, "gaussian"),
]
lines = ["suppressMessages(library(glmmTMB))", "out <- c()"]
for ds in sorted({c[1] for c in CASES}):
    meta = json.load(open(f"{D}/{ds}.json"))
    lines.append(f'{ds} <- read.csv("{D}/{ds}.csv", stringsAsFactors=FALSE)')
    for col, info in meta["columns"].items():
        if info["type"] == "factor":
            levs = ", ".join(json.dumps(str(l)) for l in info["levels"])
            lines.append(f'{ds}${col} <- factor(as.character({ds}${col}), levels=c({levs}))')
lines.append(r'''
num <- function(x) paste0("[", paste(sprintf("%.15g", x), collapse=","), "]")
str_ <- function(x) paste0("[", paste0('"', x, '"', collapse=","), "]")
fitbest <- function(f, d, reml, fam) {
  best <- NULL
  y <- model.response(model.frame(lme4::nobars(as.formula(f)), d))
  y <- if (is.factor(y)) as.numeric(y) else y
  for (how in c("default", "bfgs", "var4", "sd2")) {
    ctl <- if (how == "bfgs") glmmTMBControl(optimizer=optim, optArgs=list(method="BFGS")) else glmmTMBControl()
    st <- if (how == "var4" && fam$family == "gaussian") list(betad=log(var(y)/4)) else if (how == "sd2" && fam$family == "gaussian") list(betad=log(sd(y)/2)) else NULL
    if (how %in% c("var4", "sd2") && is.null(st)) next
    m <- tryCatch(suppressWarnings(glmmTMB(as.formula(f), data=d, REML=reml, family=fam, control=ctl, start=st)), error=function(e) {message(conditionMessage(e)); NULL})
    message(how, " ", if (is.null(m)) "NULL" else format(2*m$fit$objective))
    if (!is.null(m) && is.finite(m$fit$objective) && (is.null(best) || m$fit$objective < best$fit$objective)) best <- m
  }
  best
}''')
for name, ds, f, reml, fam in CASES:
    lines.append(f'''
message("== {name}")
m <- fitbest("{f}", {ds}, {"TRUE" if reml else "FALSE"}, {fam}())
if (!is.null(m)) {{
vc <- VarCorr(m)$cond[[1]]
cf <- summary(m)$coefficients$cond
out <- c(out, paste0('{{"name":"{name}","dataset":"{ds}","formula":"{f}","REML":{"true" if reml else "false"},"family":"{fam}",',
  '"objective":', sprintf("%.12g", 2*m$fit$objective), ',"names":', str_(rownames(cf)), ',"estimate":', num(cf[,1]), ',"se":', num(cf[,2]),
  ',"sd":', num(attr(vc, "stddev")), ',"corr":', num(as.vector(attr(vc, "correlation"))), ',"sigma":', sprintf("%.12g", sigma(m)), '}}'))
}}''')
lines.append('writeLines(out, "/tmp/extra/extra.jsonl")')
open("/tmp/extra/make.R", "w").write("\n".join(lines))
