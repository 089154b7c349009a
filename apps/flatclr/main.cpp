// flatclr: parse -> validate -> print the configuration -> run; errors are caught once, here. The library
// names configuration fields (`data.fraction`); everything printed here names the flags (--data_fraction).
#include <c10/util/Exception.h>

#include <iostream>

#include "flatclr/cli/args.h"
#include "flatclr/cli/flag_names.h"
#include "flatclr/core/error.h"
#include "flatclr/eval/evaluate.h"
#include "flatclr/report/commands.h"
#include "flatclr/run/pretrain_run.h"

int main(int argc, char** argv) {
  using flatclr::cli::to_flags;
  flatclr::cli::FlagNamesFilter out_filter(std::cout), err_filter(std::cerr);
  auto args = flatclr::cli::parse_args(argc, argv, std::cout, std::cerr);
  if (args.exit_now) return args.exit_code;
  try {
    if (args.tool == "diagnose") {
      flatclr::report::print_diagnosis(args.run_dir, std::cout, /*save=*/false);
      return 0;
    }
    if (args.tool == "plot") {
      flatclr::report::draw_plots(args.run_dir, std::cout);
      return 0;
    }
    if (args.evaluate) {
      flatclr::eval::run_evaluation(args.eval);
      return 0;
    }
    // A distributed run prints from rank 0 only (errors still come from every rank, on stderr).
    if (args.config.dist_env.rank != 0) std::cout.setstate(std::ios_base::badbit);
    std::cout << "configuration:\n" << args.config.to_json() << std::endl;
    flatclr::run::pretrain(args.config);
    return 0;
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
