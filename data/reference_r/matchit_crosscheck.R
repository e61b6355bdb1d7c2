# Cross-check of dexmood.matching against R's MatchIt (run by run_crosscheck.py, not by the book).
#
# Usage: Rscript matchit_crosscheck.R COHORT.csv CONFIG.json OUT.json
# For each configuration, runs matchit(method = "nearest", distance = "glm", link = "linear.logit",
# std.caliper = TRUE) twice:
#   * "matchit_general": MatchIt's general routine MatchIt:::nn_matchC, which computes distances correctly
#     (the dispatcher is redirected to it);
#   * "matchit_default": the installed default dispatcher (Debian's MatchIt 4.5.1 uses nn_matchC_vec,
#     which truncates distances to whole numbers: upstream issue #163, fixed in 4.5.4).
# Writes the glm logits, every pair, the caliper, and summary() balance statistics.
suppressPackageStartupMessages({library(MatchIt); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
cohort <- read.csv(args[1], stringsAsFactors = FALSE)
configs <- fromJSON(args[2], simplifyVector = FALSE)
for (col in c("sex", "pain_diagnosis", "procedure")) {
  if (col %in% names(cohort)) cohort[[col]] <- factor(cohort[[col]], levels = sort(unique(cohort[[col]]), method = "radix"))
}
cohort$dex <- as.integer(cohort$group == "DEX")
rownames(cohort) <- cohort$patient_id

default_dispatch <- MatchIt:::nn_matchC_dispatch
general_dispatch <- function(treat, ord, ratio, discarded, reuse.max, distance, distance_mat, ex,
                             caliper.dist, caliper.covs, caliper.covs.mat, mahcovs, antiexactcovs,
                             unit.id, verbose) {
  MatchIt:::nn_matchC(treat, ord, ratio, discarded, reuse.max, distance, distance_mat, ex, caliper.dist,
                      caliper.covs, caliper.covs.mat, mahcovs, antiexactcovs, unit.id, verbose)
}

run_one <- function(cfg, dispatch) {
  assignInNamespace("nn_matchC_dispatch", dispatch, "MatchIt")
  on.exit(assignInNamespace("nn_matchC_dispatch", default_dispatch, "MatchIt"))
  f <- reformulate(unlist(cfg$covariates), response = "dex")
  exact <- if (length(cfg$exact)) reformulate(unlist(cfg$exact)) else NULL
  m <- matchit(f, data = cohort, method = "nearest", distance = "glm", link = "linear.logit",
               ratio = cfg$ratio, replace = cfg$replace, caliper = cfg$caliper_sd, std.caliper = TRUE,
               exact = exact, m.order = "largest")
  mm <- m$match.matrix
  pairs <- do.call(rbind, lapply(seq_len(ncol(mm)), function(j) {
    keep <- !is.na(mm[, j])
    data.frame(treated_id = rownames(mm)[keep], control_id = mm[keep, j], round = rep(j, sum(keep)))
  }))
  s <- summary(m, un = TRUE, pair.dist = FALSE)
  bal <- function(tab) data.frame(term = rownames(tab), mean_treated = tab[, 1], mean_control = tab[, 2],
                                   smd = tab[, 3], variance_ratio = tab[, 4], ecdf_mean = tab[, 5],
                                   ecdf_max = tab[, 6], row.names = NULL)
  list(pairs = pairs, caliper_logit = unname(m$caliper[names(m$caliper) == ""]),
       balance_before = bal(s$sum.all), balance_after = bal(s$sum.matched),
       weights = data.frame(patient_id = names(m$weights), weight = unname(m$weights)))
}

out <- list(r_version = R.version.string, matchit_version = as.character(packageVersion("MatchIt")),
            results = list())
for (cfg in configs) {
  general <- run_one(cfg, general_dispatch)
  default <- run_one(cfg, default_dispatch)
  fit <- glm(reformulate(unlist(cfg$covariates), response = "dex"), data = cohort, family = binomial())
  out$results[[cfg$name]] <- list(
    config = cfg, glm_logit = data.frame(patient_id = cohort$patient_id, logit = unname(predict(fit))),
    matchit_general = general, matchit_default = list(pairs = default$pairs, caliper_logit = default$caliper_logit))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, dataframe = "columns"), args[3])
