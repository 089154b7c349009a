#include "flatclr/report/diagnosis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "flatclr/losses/method.h"

namespace flatclr::report {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
std::string pct(double share) { return fmt("%.0f%%", 100 * share); }

// The mean of the last quarter of a series (at least one value).
double recent_mean(const std::vector<double>& v) {
  const size_t k = std::max<size_t>(1, v.size() / 4);
  double s = 0;
  for (size_t i = v.size() - k; i < v.size(); ++i) s += v[i];
  return s / static_cast<double>(k);
}

std::string method(const RunHistory& run) {
  const auto m = losses::find_method(run.config_value<std::string>("clr", ""));
  return m ? losses::method_info(*m).name : "FlatCLR";
}

void rule_nonfinite(const RunHistory& run, std::vector<Finding>& out) {
  int64_t skipped = 0;
  for (const auto& e : run.events) {
    if (string_value(e, "event", "") != "nonfinite") continue;
    const std::string what = string_value(e, "what", "loss"), value = string_value(e, "value", "NaN");
    const int64_t step = int_value(e, "global_step", 0);
    if (string_value(e, "action", "stop") == "skip") {
      ++skipped;
      continue;
    }
    out.push_back(
        {"nonfinite", "problem",
         "the " + what + " became " + value + " at step " + std::to_string(step) + " (epoch " +
             std::to_string(int_value(e, "epoch", 0)) +
             ") and the run stopped; last good checkpoint: " + string_value(e, "last_checkpoint", "none") +
             ". Lower `lr` (effective lr was " + fmt("%g", run.config_value<double>("effective_lr", 0)) +
             ") or raise `temperature`; `on_nonfinite`=skip skips such steps instead"});
  }
  if (skipped > 0) {
    out.push_back({"nonfinite", "warning",
                   std::to_string(skipped) +
                       " step(s) were skipped because their loss or gradient was not finite "
                       "(`on_nonfinite`=skip): training is unstable, lower `lr`"});
  }
}

void rule_saturation(const RunHistory& run, std::vector<Finding>& out) {
  auto sat = run.series("saturated");
  if (sat.empty()) return;
  const double now = recent_mean(sat.value);
  if (now <= 0.5) return;
  // Onset: the first epoch from which every interval has more than half of its rows saturated.
  size_t first = sat.value.size();
  while (first > 0 && sat.value[first - 1] > 0.5) --first;
  const int64_t onset = to_int64(sat.epoch[std::min(first, sat.value.size() - 1)]);
  const std::string since = onset <= 1 ? "from epoch 1" : "after epoch " + std::to_string(onset - 1);
  if (method(run) == "SimCLR") {
    out.push_back({"saturation", "problem",
                   "InfoNCE's gradient vanished on " + pct(now) + " of rows " + since +
                       " (p+ > 0.99, so each such row keeps less than 1% of its gradient): the log-K regime. "
                       "FlatNCE keeps these gradients: try `clr`=flatclr"});
  } else {
    out.push_back(
        {"saturation", "info",
         pct(now) + " of rows have p+ > 0.99 " + since +
             ": InfoNCE would have lost their gradient here (the log-K regime); FlatNCE keeps it, "
             "so training goes on. The InfoNCE value logged no longer shows the progress: watch kNN "
             "accuracy (`knn_every`) instead"});
  }
}

// The cell of the studies (report/study_cells.h) closest to the run, and what was measured there. InfoNCE
// keeps 1 - p+ of each row's gradient (the mechanism table of docs/results/logk-study.md); FlatNCE's does not
// shrink with p+. Near a measured cell the advice follows the difference measured there, set against that
// cell's seeds; above every p+ the studies reached with this method, it follows the mechanism alone. A
// saturated run beyond the measured ground is left to rule_saturation.
std::string cell_text(const StudyCell& c, losses::Method m) {
  const CellResult& r = *c.result(m);
  std::string s = c.regime + " of " + c.page + " (" + losses::method_info(m).name + " at batch " +
                  std::to_string(c.batch_size) + ", tau " + fmt("%g", c.temperature);
  if (c.images > 0) s += ", " + std::to_string(c.images) + " images";
  s += ", " + std::to_string(c.epochs) + " epochs";
  if (c.color_jitter) s += ", colour jitter " + fmt("%g", *c.color_jitter);
  if (c.crop_min_scale) s += ", crop scale >= " + fmt("%g", *c.crop_min_scale);
  return s + ", " + std::to_string(r.seeds) + " seeds: p+ " + fmt("%.3f", r.p_pos) + ", saturated rows " +
         pct(r.saturated) + ")";
}

std::string difference_text(const char* metric, const CellDifference& d, const StudyCell& c) {
  const int n_sim = c.simclr ? c.simclr->seeds : 0, n_flat = c.flatclr ? c.flatclr->seeds : 0;
  const std::string how =
      d.paired ? "paired over " + std::to_string(d.pairs) + " seeds"
               : "two-sample t over " + std::to_string(n_sim) + " and " + std::to_string(n_flat) + " seeds";
  return std::string(metric) + " " + fmt("%+.2f", d.mean) + " points (" + how + ", t = " + fmt("%.2f", d.t) +
         ": " + (d.beyond_spread ? "beyond" : "within") + " the seeds' spread)";
}

void rule_regime(const RunHistory& run, const std::vector<StudyCell>& cells, std::vector<Finding>& out) {
  auto p = run.series("p_pos_mean"), sat = run.series("saturated");
  if (p.empty()) return;
  const auto m =
      losses::find_method(run.config_value<std::string>("clr", "")).value_or(losses::Method::kFlatCLR);
  const bool simclr = m == losses::Method::kSimCLR;
  RunPoint point;
  point.method = m;
  point.batch_size = run.config_value<int64_t>("batch_size", 0);
  point.temperature = run.config_value<double>("temperature", 0);
  point.p_pos = recent_mean(p.value);
  point.saturated = sat.empty() ? 0.0 : recent_mean(sat.value);
  std::string where =
      "p+ averages " + fmt("%.3f", point.p_pos) + " recently (saturated rows " + pct(point.saturated);
  if (point.batch_size > 0) where += "; batch " + std::to_string(point.batch_size);
  if (point.temperature > 0) where += ", tau " + fmt("%g", point.temperature);
  where += ")";

  // The highest p+ any cell reached with this method: beyond it (by more than a logging interval's noise), no
  // cell is close in the quantity that decides how much gradient InfoNCE keeps.
  double reached = -1;
  std::string reached_where;
  for (const auto& c : cells) {
    const auto& r = c.result(m);
    if (r && r->p_pos_max > reached) reached = r->p_pos_max, reached_where = c.regime + " of " + c.page;
  }
  const StudyCell* cell = closest_cell(cells, point);
  const std::string name = losses::method_info(m).name;
  if (!cell || point.p_pos > reached + 0.05) {
    if (point.saturated > 0.5) return;
    const std::string beyond = cell ? ", beyond every cell of the studies (the highest p+ any " + name +
                                          " run reached there: " + fmt("%.3f", reached) + ", " +
                                          reached_where + ")"
                                    : " (no study cell holds " + name + " runs to compare with)";
    const std::string left = pct(1 - point.p_pos);
    if (simclr) {
      out.push_back({"regime", point.p_pos > 0.9 ? "warning" : "info",
                     where + beyond + ": each row keeps only 1 - p+ = " + left +
                         " of its InfoNCE gradient, and less as p+ rises. This is the regime FlatNCE is for: "
                         "consider `clr`=flatclr"});
    } else {
      out.push_back({"regime", "info",
                     where + beyond + ": InfoNCE would keep only " + left +
                         " of each row's gradient here; FlatNCE's does not shrink with p+"});
    }
    return;
  }
  const CellDifference& d = *cell->knn;
  std::string text = where + ". Closest measured cell: " + cell_text(*cell, m) +
                     ". There FlatCLR − SimCLR was " + difference_text("kNN", d, *cell);
  if (cell->linear) text += " and " + difference_text("linear", *cell->linear, *cell);
  std::string severity = "info";
  // A kNN difference that the cell's linear probe does not confirm (within its spread, or the other way) is
  // reported as kNN-only and advises nothing firmly: one metric of two, at one cell.
  const bool linear_agrees =
      !cell->linear || (cell->linear->beyond_spread && (cell->linear->mean > 0) == (d.mean > 0));
  const std::string only = linear_agrees ? "" : " in kNN only (the linear probe showed no such difference)";
  if (d.beyond_spread && d.mean > 0) {
    if (linear_agrees) {
      text += simclr ? ": FlatCLR did better there, consider `clr`=flatclr" : ": FlatCLR did better there";
      if (simclr) severity = "warning";
    } else {
      text += ": FlatCLR did better there" + only + (simclr ? "; `clr`=flatclr may help a little" : "");
    }
  } else if (d.beyond_spread && d.mean < 0) {
    if (linear_agrees) {
      text += simclr ? ": SimCLR did better there" : ": SimCLR did better there, consider `clr`=simclr";
      if (!simclr) severity = "warning";
    } else {
      text += ": SimCLR did better there" + only + (simclr ? "" : "; `clr`=simclr may help a little");
    }
  } else {
    text += simclr ? ": switching to `clr`=flatclr is not expected to help here"
                   : ": SimCLR would be expected to do as well here";
  }
  out.push_back({"regime", severity, text});
}

void rule_log_k(const RunHistory& run, std::vector<Finding>& out) {
  auto mi = run.series("mi_estimate"), lk = run.series("log_k");
  if (mi.empty() || lk.empty()) return;
  const double m = recent_mean(mi.value), ceiling = lk.value.back();
  if (ceiling <= 0 || m < 0.9 * ceiling) return;
  const int64_t bs = run.config_value<int64_t>("batch_size", 0);
  out.push_back(
      {"log_k", "warning",
       "the InfoNCE mutual-information estimate is " + fmt("%.2f", m) + " nats, " + pct(m / ceiling) +
           " of its ceiling log(2N-1) = " + fmt("%.2f", ceiling) + " at batch " + std::to_string(bs) +
           ": the batch size, not the encoder, bounds it. " +
           (method(run) == "SimCLR" ? "A larger `batch_size` or `clr`=flatclr helps"
                                    : "FlatNCE keeps learning here; judge progress by kNN accuracy")});
}

void rule_collapse(const RunHistory& run, std::vector<Finding>& out) {
  auto rank = run.series("effective_rank_z"), dim = run.series("rank_max_z");
  if (dim.empty()) dim = run.series("z_dim");
  auto std_z = run.series("z_dim_std"), spread = run.series("z_dim_std_spread");
  if (!rank.empty() && !dim.empty()) {
    const double r = rank.value.back(), d = dim.value.back();
    if (r < std::max(2.0, 0.05 * d)) {
      out.push_back({"collapse", "problem",
                     "embeddings collapsing: effective rank " + fmt("%.1f", r) + " of at most " +
                         fmt("%.0f", d) + " at step " + fmt("%.0f", rank.step.back()) +
                         ". Check the augmentation strength, lower `lr`, or raise `temperature`"});
      return;
    }
    const double peak = *std::max_element(rank.value.begin(), rank.value.end());
    if (rank.value.size() >= 3 && r < 0.5 * peak) {
      out.push_back({"collapse", "warning",
                     "the effective rank of z fell from " + fmt("%.1f", peak) + " to " + fmt("%.1f", r) +
                         " of " + fmt("%.0f", d) + ": the embeddings are losing dimensions"});
      return;
    }
  }
  if (!std_z.empty() && !spread.empty() && std_z.value.back() < 0.2 * spread.value.back()) {
    out.push_back({"collapse", "problem",
                   "embeddings collapsing: the per-dimension std of the normalised z is " +
                       fmt("%.4f", std_z.value.back()) + " (about " + fmt("%.4f", spread.value.back()) +
                       " when spread over the sphere)"});
  }
}

void rule_data(const RunHistory& run, std::vector<Finding>& out) {
  auto wait = run.series("data_wait_share");
  if (wait.empty()) return;
  const double w = recent_mean(wait.value);
  if (w <= 0.2) return;
  const bool faster = run.config_value<bool>("faster_version", false);
  out.push_back(
      {"data", "warning",
       "data loading takes " + pct(w) + " of step time: " +
           (faster ? std::string("the batched augmentation is the bottleneck; give it more `threads`")
                   : std::string("raise `workers` (now " +
                                 std::to_string(run.config_value<int64_t>("workers", 0)) +
                                 ") or use `faster_version`=True"))});
}

void rule_no_progress(const RunHistory& run, std::vector<Finding>& out) {
  auto loss = run.series("info_nce");
  if (loss.value.size() < 4) return;
  const double first = loss.value.front(), now = recent_mean(loss.value);
  if (now < first - 0.01 * std::abs(first)) return;
  out.push_back({"no_progress", "warning",
                 "the InfoNCE loss has not decreased (" + fmt("%.4f", first) + " at step " +
                     fmt("%.0f", loss.step.front()) + ", " + fmt("%.4f", now) +
                     " recently): check `lr` (effective " +
                     fmt("%g", run.config_value<double>("effective_lr", 0)) + ") and `warmup_epochs`"});
}

void rule_grad_growth(const RunHistory& run, std::vector<Finding>& out) {
  auto g = run.series("grad_norm");
  if (g.value.size() < 3 || !(g.value.front() > 0)) return;
  const double now = recent_mean(g.value);
  if (now < 10 * g.value.front()) return;
  out.push_back({"grad_growth", "warning",
                 "the gradient norm grew " + fmt("%.0f", now / g.value.front()) + "x (" +
                     fmt("%.3g", g.value.front()) + " -> " + fmt("%.3g", now) +
                     "): training is becoming unstable; lower `lr`"});
}

void rule_knn(const RunHistory& run, std::vector<Finding>& out) {
  std::vector<std::pair<int64_t, double>> knn;
  for (const auto& e : run.epochs)
    if (const double top1 = number_value(e, "knn_top1", NAN); !std::isnan(top1))
      knn.emplace_back(int_value(e, "epoch", 0), top1);
  if (knn.empty()) return;
  const auto& [e0, a0] = knn.front();
  const auto& [e1, a1] = knn.back();
  if (knn.size() >= 2 && a1 < a0 - 0.02) {
    out.push_back({"knn", "warning",
                   "kNN top-1 fell from " + fmt("%.2f%%", 100 * a0) + " (epoch " + std::to_string(e0) +
                       ") to " + fmt("%.2f%%", 100 * a1) + " (epoch " + std::to_string(e1) + ")"});
  } else {
    out.push_back({"knn", "info",
                   "kNN top-1 " +
                       (knn.size() >= 2 ? fmt("%.2f%%", 100 * a0) + " (epoch " + std::to_string(e0) + ") -> "
                                        : std::string()) +
                       fmt("%.2f%%", 100 * a1) + " (epoch " + std::to_string(e1) + ")"});
  }
}

Finding status(const RunHistory& run) {
  const int64_t epochs = run.config_value<int64_t>("epochs", 0);
  const int64_t done = run.epochs.empty() ? 0 : int_value(run.epochs.back(), "epoch", 0);
  const int64_t step = run.intervals.empty() ? 0 : int_value(run.intervals.back(), "global_step", 0);
  std::string text = method(run) + ", batch " + std::to_string(run.config_value<int64_t>("batch_size", 0)) +
                     ", " + run.config_value<std::string>("model", "?") + "; ";
  if (epochs > 0 && done >= epochs)
    text += "finished: " + std::to_string(done) + "/" + std::to_string(epochs) + " epochs";
  else
    text += "in progress or stopped: " + std::to_string(done) + "/" + std::to_string(epochs) + " epochs done";
  text += ", " + std::to_string(step) + " steps logged, " + std::to_string(run.checkpoints.size()) +
          " checkpoint(s)";
  return {"status", "info", text};
}

Finding summary(const RunHistory& run) {
  auto get = [&](const char* key) {
    auto s = run.series(key);
    return s.empty() ? NAN : recent_mean(s.value);
  };
  auto last = [&](const char* key) {
    auto s = run.series(key);
    return s.empty() ? NAN : s.value.back();
  };
  std::string t = "recently: InfoNCE " + fmt("%.4f", get("info_nce")) + ", MI estimate " +
                  fmt("%.2f", get("mi_estimate")) + " of log K " + fmt("%.2f", last("log_k")) + ", p+ mean " +
                  fmt("%.3f", get("p_pos_mean")) + " (saturated rows " + pct(get("saturated")) + "), ESS " +
                  fmt("%.2f", get("ess")) + ", pair top-1 " + fmt("%.1f%%", 100 * get("top1"));
  if (!std::isnan(last("effective_rank_z")))
    t += ", effective rank z " + fmt("%.1f", last("effective_rank_z")) + " of at most " +
         fmt("%.0f", std::isnan(last("rank_max_z")) ? last("z_dim") : last("rank_max_z")) +
         " (batch rows vs " + fmt("%.0f", last("z_dim")) + " dimensions)";
  t += ", data wait " + pct(get("data_wait_share"));
  return {"summary", "info", t};
}

}  // namespace

std::vector<Finding> diagnose(const RunHistory& run) { return diagnose(run, study_cells()); }

std::vector<Finding> diagnose(const RunHistory& run, const std::vector<StudyCell>& cells) {
  std::vector<Finding> out;
  out.push_back(status(run));
  if (run.intervals.empty() && run.events.empty()) {
    out.push_back({"status", "info", "no step has been logged yet (steps.jsonl is empty or absent)"});
    return out;
  }
  rule_nonfinite(run, out);
  rule_saturation(run, out);
  rule_regime(run, cells, out);
  rule_log_k(run, out);
  rule_collapse(run, out);
  rule_data(run, out);
  rule_no_progress(run, out);
  rule_grad_growth(run, out);
  rule_knn(run, out);
  const bool trouble = std::any_of(out.begin(), out.end(), [](const Finding& f) {
    return f.severity == "problem" || f.severity == "warning";
  });
  if (!trouble) out.push_back({"healthy", "info", "no problem found"});
  if (!run.intervals.empty()) out.push_back(summary(run));
  return out;
}

std::string format_diagnosis(const RunHistory& run, const std::vector<Finding>& findings) {
  std::ostringstream s;
  s << "diagnosis of " << run.run_dir << "\n";
  for (const auto& f : findings) s << "  [" << f.severity << "] " << f.text << "\n";
  return s.str();
}

}  // namespace flatclr::report
