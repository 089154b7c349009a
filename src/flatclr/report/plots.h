// PNG plots of a run folder for a person to look at, drawn by gnuplot (Debian: gnuplot-nox) when it is on the
// PATH; without it nothing is drawn and the caller prints a one-line notice. From the run's history
// (report/run_history.h) it writes, under <run>/plots/:
//   intervals.tsv, epochs.tsv   the plotted data (step-indexed and epoch-indexed), also handy for other
//   tools; plots.gp                    the gnuplot script (rerun it by hand to restyle); loss.png InfoNCE per
//   logging interval and per epoch; accuracy.png    positive-pair top-1/top-5 and, when logged, the online
//   kNN top-1; saturation.png  p+ mean, the share of saturated rows (p+ > 0.99) and the InfoNCE/FlatNCE
//   gradient ratio; mi.png          the InfoNCE MI estimate against its ceiling log(2N-1); rank.png effective
//   rank of h and z (when logged).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "flatclr/report/run_history.h"

namespace flatclr::report {

struct PlotResult {
  bool drawn = false;               // false: gnuplot missing (notice says so) or nothing to plot
  std::string notice;               // one line for the user
  std::vector<std::string> images;  // PNG paths written
};

// gnuplot's path on the PATH, or "" when it is not installed.
std::string find_gnuplot();

// Runs `gnuplot` on `script` (its output goes to <script>.log); returns the exit status and that output.
std::pair<int, std::string> run_gnuplot(const std::string& gnuplot, const std::filesystem::path& script);

// A path as a gnuplot single-quoted string.
std::string gnuplot_quote(const std::filesystem::path& p);

// Writes the data and the script, then runs `gnuplot_path` (if not empty). Throws UserError when gnuplot
// fails, with its output.
PlotResult write_plots(const RunHistory& run, const std::string& gnuplot_path);

}  // namespace flatclr::report
