// A diagnosis of a contrastive run in plain words, from its run folder (report/run_history.h). Each rule
// reads the logged diagnostics (train/step_monitor.h) and, when it fires, says what it saw, what it means and
// what to try. "Recent" means the last quarter of the logged intervals (at least one). The rules:
//   nonfinite   a loss or gradient became NaN/Inf: the step, the action taken, the last good checkpoint;
//   saturation  p+ > 0.99 on more than half of the rows recently: InfoNCE's gradient (1 - p+ times
//               FlatNCE's) has all but vanished, the log-K regime. SimCLR: try `clr`=flatclr;
//   regime      the studies' cell closest to the run (report/study_cells.h: method, batch, temperature, p+,
//               saturated share) and the FlatCLR - SimCLR difference measured there, or the mechanism alone
//               when the run's p+ is beyond every cell;
//   log_k       the InfoNCE MI estimate is recently at >= 90% of its ceiling log(2N-1): the loss cannot show
//               more progress at this batch size;
//   collapse    effective rank of z below max(2, 5% of its maximum min(2N, D)), or per-dimension std of
//               the normalised z below 20% of its spread value 1/sqrt(D): the embeddings are collapsing;
//   data        data loading takes more than 20% of step time: raise `workers` or use `faster_version`=True;
//   no_progress InfoNCE recently not below its first logged value by 1% after at least 4 intervals;
//   grad_growth gradient norm recently 10x or more its first value: unstable, lower `lr`;
//   knn         the online kNN accuracy (`knn_every`) first vs last, and a drop of more than 2 points.
// When no rule finds a problem the report says so, with the recent values it checked.
#pragma once

#include <string>
#include <vector>

#include "flatclr/report/run_history.h"
#include "flatclr/report/study_cells.h"

namespace flatclr::report {

struct Finding {
  std::string rule;      // the rule's name above, or "status" / "summary" / "healthy"
  std::string severity;  // "problem" | "warning" | "info"
  std::string text;      // one or two sentences, plain words
};

std::vector<Finding> diagnose(const RunHistory& run);
// The same against the given study cells instead of the ones built in (tests).
std::vector<Finding> diagnose(const RunHistory& run, const std::vector<StudyCell>& cells);
// The report as printed by `flatclr diagnose`: a heading line, one line per finding.
std::string format_diagnosis(const RunHistory& run, const std::vector<Finding>& findings);

}  // namespace flatclr::report
