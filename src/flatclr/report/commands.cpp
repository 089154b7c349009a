#include "flatclr/report/commands.h"

#include <filesystem>
#include <ostream>

#include "flatclr/core/atomic_file.h"
#include "flatclr/report/diagnosis.h"
#include "flatclr/report/plots.h"
#include "flatclr/report/run_history.h"

namespace flatclr::report {

void print_diagnosis(const std::string& run_dir, std::ostream& out, bool save) {
  const auto run = read_run_history(run_dir);
  const std::string text = format_diagnosis(run, diagnose(run));
  out << text << std::flush;
  if (save) core::write_file_atomic((std::filesystem::path(run_dir) / "diagnosis.txt").string(), text);
}

void draw_plots(const std::string& run_dir, std::ostream& out) {
  const auto result = write_plots(read_run_history(run_dir), find_gnuplot());
  out << result.notice << std::endl;
}

}  // namespace flatclr::report
