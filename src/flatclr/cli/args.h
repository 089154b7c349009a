// The command line of `flatclr`: the flag names of the paper's main.py, plus --learning_rate_scaling and the
// others flatclr adds, as --name=value or --name value. Booleans accept true/false/True/False/1/0 and nothing
// else. The only place in flatclr that knows flag names.
#pragma once

#include <iosfwd>

#include "flatclr/eval/eval_config.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::cli {

struct ParsedArgs {
  bool exit_now = false;  // --help or an error: exit with exit_code
  int exit_code = 0;      // 0 for --help, 2 for a bad flag or value
  bool evaluate = false;  // --train_mode=eval|transfer: run `eval`, else pretrain with `config`
  std::string tool;       // "diagnose" | "plot": `flatclr diagnose RUN_DIR`, `flatclr plot RUN_DIR`
  std::string run_dir;    // the tool's run folder
  train::PretrainConfig config;
  eval::EvalConfig eval;
};

// Parses, validates and resolves. `flatclr diagnose RUN_DIR` and `flatclr plot RUN_DIR` are the two
// subcommands (reading a run folder); everything else is the reference's flag set. Messages go to `out`
// (help) or `err` (errors, naming the flag).
ParsedArgs parse_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace flatclr::cli
