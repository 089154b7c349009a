// The two things a user does with a run folder besides evaluating it: read its diagnosis and look at its
// plots. Used by `flatclr diagnose RUN_DIR`, `flatclr plot RUN_DIR` and at the end of every pretraining run.
#pragma once

#include <iosfwd>
#include <string>

namespace flatclr::report {

// Prints the diagnosis (report/diagnosis.h) of `run_dir` to `out`; with save, also writes it to
// <run_dir>/diagnosis.txt (atomically). Throws UserError when `run_dir` is not a run folder.
void print_diagnosis(const std::string& run_dir, std::ostream& out, bool save);

// Draws <run_dir>/plots/*.png with gnuplot (report/plots.h) and prints one line saying where, or that gnuplot
// is missing.
void draw_plots(const std::string& run_dir, std::ostream& out);

}  // namespace flatclr::report
