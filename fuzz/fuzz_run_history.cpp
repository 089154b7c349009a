// libFuzzer target: the run-folder readers that `flatclr diagnose` and `flatclr plot` use on folders that may
// be half-written or edited by hand (report/run_history.h), and what is computed from them: the diagnosis and
// the plot data. The input is split at the first two NUL bytes into config.json, metrics.jsonl and
// steps.jsonl. Any input must end in a report or a UserError.
#include <filesystem>
#include <string_view>

#include "flatclr/core/error.h"
#include "flatclr/report/diagnosis.h"
#include "flatclr/report/plots.h"
#include "flatclr/report/run_history.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t a = std::min(all.find('\0'), all.size());
  const size_t b = a < all.size() ? std::min(all.find('\0', a + 1), all.size()) : all.size();
  const std::string_view parts[3] = {all.substr(0, a), a < all.size() ? all.substr(a + 1, b - a - 1) : "",
                                     b < all.size() ? all.substr(b + 1) : ""};
  const char* names[3] = {"config.json", "metrics.jsonl", "steps.jsonl"};
  const auto run = flatclr::fuzz::scratch_dir() / "run";
  std::filesystem::create_directories(run);
  for (int i = 0; i < 3; ++i) {
    flatclr::fuzz::write_input("run/" + std::string(names[i]),
                               reinterpret_cast<const uint8_t*>(parts[i].data()), parts[i].size());
  }
  try {
    const auto history = flatclr::report::read_run_history(run.string());
    flatclr::report::format_diagnosis(history, flatclr::report::diagnose(history));
    flatclr::report::write_plots(history, "");  // the data and the script, without running gnuplot
  } catch (const flatclr::UserError&) {
  }
  return 0;
}
