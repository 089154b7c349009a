// The command line of `flatclr`: the flag names of the paper's main.py, plus --learning_rate_scaling and the
// others flatclr adds, as --name=value or --name value. Booleans accept true/false/True/False/1/0 and nothing
// else. The only place in flatclr that knows flag names.
#pragma once

#include <iosfwd>

#include "flatclr/eval/embed.h"
#include "flatclr/eval/eval_config.h"
#include "flatclr/eval/export_encoder.h"
#include "flatclr/run/supervised_run.h"
#include "flatclr/train/pretrain_config.h"

namespace flatclr::cli {

// What `flatclr` was asked to do.
enum class Command {
  kPretrain,    // --train_mode=ssl (the default): `config`
  kEvaluate,    // --train_mode=eval|transfer|semi: `eval`
  kSupervised,  // --train_mode=supervised: `supervised`
  kDiagnose,    // flatclr diagnose RUN_DIR
  kPlot,        // flatclr plot RUN_DIR
  kExport,      // flatclr export ...: `export_config`
  kEmbed,       // flatclr embed ...: `embed`
};

struct ParsedArgs {
  bool exit_now = false;  // --help or an error: exit with exit_code
  int exit_code = 0;      // 0 for --help, 2 for a bad flag or value
  Command command = Command::kPretrain;
  std::string run_dir;  // diagnose, plot: the run folder
  train::PretrainConfig config;
  eval::EvalConfig eval;
  run::SupervisedConfig supervised;
  eval::ExportConfig export_config;
  eval::EmbedConfig embed;
};

// Parses, validates and resolves. The subcommands `diagnose RUN_DIR`, `plot RUN_DIR`, `export ...` and
// `embed ...` come first; everything else is the reference's flag set. Messages go to `out` (help) or `err`
// (errors, naming the flag).
ParsedArgs parse_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace flatclr::cli
