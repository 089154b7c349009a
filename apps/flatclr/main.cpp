// flatclr: parse -> validate -> print the configuration -> run; errors are caught once, here. The library
// names configuration fields (`data.fraction`); everything printed here names the flags (--data_fraction).
#include <c10/util/Exception.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "flatclr/cli/args.h"
#include "flatclr/cli/flag_names.h"
#include "flatclr/core/error.h"
#include "flatclr/core/memory_usage.h"
#include "flatclr/eval/embed.h"
#include "flatclr/eval/evaluate.h"
#include "flatclr/eval/export_encoder.h"
#include "flatclr/report/commands.h"
#include "flatclr/report/pca_plot.h"
#include "flatclr/run/pretrain_run.h"
#include "flatclr/run/supervised_run.h"

namespace {

using flatclr::cli::Command;
using flatclr::cli::ParsedArgs;

void run_export(const flatclr::eval::ExportConfig& config) {
  const auto r = flatclr::eval::export_encoder(config);
  std::printf("exported %s: %lld tensors, %lld parameters and buffers, %.1f MB as %s (%s)\n",
              r.checkpoint.c_str(), static_cast<long long>(r.tensors), static_cast<long long>(r.parameters),
              static_cast<double>(r.bytes) / 1e6, config.output.c_str(),
              flatclr::core::name_of(config.format).c_str());
}

void run_embed(const flatclr::eval::EmbedConfig& config) {
  const auto r = flatclr::eval::embed(config);
  std::printf(
      "embedded %lld images of %s %s (%lld features each) in %.1f s%s\n", static_cast<long long>(r.rows),
      r.dataset.c_str(), flatclr::core::name_of(config.split).c_str(), static_cast<long long>(r.feature_dim),
      r.seconds,
      r.bad_images ? (", " + std::to_string(r.bad_images) + " bad image file(s) left out").c_str() : "");
  for (const auto& f : r.files) std::printf("wrote %s\n", f.c_str());
  const auto plot =
      flatclr::report::write_pca_plot(r.sample_features, r.sample_labels, r.class_names, config.output,
                                      "PCA of h: " + r.dataset + " " + flatclr::core::name_of(config.split) +
                                          " (" + std::to_string(r.sample_features.size(0)) + " of " +
                                          std::to_string(r.rows) + " rows)\n" + r.checkpoint,
                                      flatclr::report::find_gnuplot());
  std::printf("%s\n", plot.notice.c_str());
}

// The process's peak resident memory (VmHWM), the last line of every command that reads a dataset: what a
// machine for this run needs (bench/bench_streaming_memory.py collects it).
void print_peak_memory() {
  const auto m = flatclr::core::memory_usage();
  if (m.peak_bytes < 0) return;
  char text[64];
  std::snprintf(text, sizeof text, "%.1f", static_cast<double>(m.peak_bytes) / 1e6);
  std::cout << "peak resident memory: " << text << " MB" << std::endl;  // std::cout: rank 0 only
}

int dispatch(const ParsedArgs& args) {
  switch (args.command) {
    case Command::kDiagnose:
      flatclr::report::print_diagnosis(args.run_dir, std::cout, /*save=*/false);
      return 0;
    case Command::kPlot:
      flatclr::report::draw_plots(args.run_dir, std::cout);
      return 0;
    case Command::kExport:
      run_export(args.export_config);
      return 0;
    case Command::kEmbed:
      run_embed(args.embed);
      return 0;
    case Command::kEvaluate:
      flatclr::eval::run_evaluation(args.eval);
      return 0;
    case Command::kSupervised:
      flatclr::run::run_supervised(args.supervised);
      return 0;
    case Command::kPretrain:
      // A distributed run prints from rank 0 only (errors still come from every rank, on stderr).
      if (args.config.dist_env.rank != 0) std::cout.setstate(std::ios_base::badbit);
      // The data are checked first; the run then summarises its configuration in one line (config.json in the
      // run folder holds the whole).
      flatclr::run::pretrain(args.config);
      return 0;
  }
  return 0;
}

int run(const ParsedArgs& args) {
  const int code = dispatch(args);
  if (args.command != Command::kDiagnose && args.command != Command::kPlot &&
      args.command != Command::kExport)
    print_peak_memory();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using flatclr::cli::to_flags;
  // A file-size limit (ulimit -f) makes a too-large write fail with EFBIG, which the writers report (and
  // clean up after), instead of killing the process with SIGXFSZ half-way through a file.
  std::signal(SIGXFSZ, SIG_IGN);
  flatclr::cli::FlagNamesFilter out_filter(std::cout), err_filter(std::cerr);
  auto args = flatclr::cli::parse_args(argc, argv, std::cout, std::cerr);
  if (args.exit_now) return args.exit_code;
  try {
    return run(args);
  } catch (const flatclr::UsageError& e) {
    std::cerr << "flatclr: error: " << to_flags(e.what()) << std::endl;
    return 2;
  } catch (const flatclr::UserError& e) {
    std::cerr << "flatclr: error: " << to_flags(e.what()) << std::endl;
    return 1;
  } catch (const flatclr::InternalError& e) {
    std::cerr << "flatclr: internal error (a bug, please report it): " << e.what() << std::endl;
    return 3;
  } catch (const c10::Error& e) {
    std::cerr << "flatclr: error from LibTorch: " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "flatclr: error: " << e.what() << std::endl;
    return 1;
  }
}
