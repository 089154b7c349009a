#include "flatclr/cli/args.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <ostream>

#include "flatclr/cli/flag_names.h"
#include "flatclr/core/choice.h"
#include "flatclr/core/error.h"
#include "flatclr/dist/dist_env.h"

namespace flatclr::cli {
namespace {

// Booleans are parsed by hand: CLI11 would also take yes/no/on/off, and the reference took any
// non-empty string as True (its defect 4). Only these six spellings are accepted.
struct BoolFlags {
  std::map<std::string, std::pair<std::string, bool*>> values;

  void add(CLI::App& app, const std::string& name, bool* target, const std::string& help) {
    auto& slot = values[name];
    slot = {*target ? "True" : "False", target};
    app.add_option("--" + name, slot.first, help + " (true/false)")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
              if (v == "true" || v == "false" || v == "True" || v == "False" || v == "1" || v == "0")
                return "";
              return "expected true, false, True, False, 1 or 0, got '" + v + "'";
            },
            "BOOL"))
        ->capture_default_str();
  }
  void apply() {
    for (auto& [name, slot] : values)
      *slot.second = slot.first == "true" || slot.first == "True" || slot.first == "1";
  }
};

// Options with a fixed set of values are read as text and turned into their enum after parsing
// (core/choice.h); the help lists the values, an unknown one is an error naming the flag.
struct ChoiceFlags {
  std::vector<std::function<void()>> apply_all;

  template <typename E>
  void add(CLI::App& app, const std::string& flag, E* target, const std::string& help) {
    auto text = std::make_shared<std::string>(core::name_of(*target));
    app.add_option(flag, *text, help.empty() ? core::choice_list<E>(" | ") : help)->capture_default_str();
    apply_all.push_back([text, target, flag] {
      const auto value = core::parse_choice<E>(*text);
      if (!value) fail_usage(flag, "=", *text, ": expected one of ", core::choice_list<E>());
      *target = *value;
    });
  }
  void apply() {
    for (auto& f : apply_all) f();
  }
};

enum class TrainMode { kSsl, kEval, kTransfer };
constexpr core::Choice<TrainMode> kTrainModes[] = {
    {TrainMode::kSsl, "ssl"}, {TrainMode::kEval, "eval"}, {TrainMode::kTransfer, "transfer"}};
constexpr const auto& choices_of(TrainMode) { return kTrainModes; }

ParsedArgs parse_tool_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  ParsedArgs result;
  result.tool = argv[1];
  const bool diagnose = result.tool == "diagnose";
  CLI::App app{diagnose
                   ? "flatclr diagnose: a report in plain words on a pretraining run (running or finished), "
                     "from its run folder's logs"
                   : "flatclr plot: PNG plots (gnuplot) of a pretraining run into <run folder>/plots/",
               "flatclr " + result.tool};
  app.add_option("run_dir", result.run_dir, "the run folder, e.g. results/cifar10/16_SimCLR/<date>")
      ->required();
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    result.exit_now = true;
  } catch (const CLI::ParseError& e) {
    err << "flatclr " << result.tool << ": error: " << e.what() << "\n";
    result.exit_now = true;
    result.exit_code = 2;
  }
  return result;
}

}  // namespace

ParsedArgs parse_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  if (argc >= 2 && (std::string(argv[1]) == "diagnose" || std::string(argv[1]) == "plot"))
    return parse_tool_args(argc, argv, out, err);
  ParsedArgs result;
  auto& c = result.config;
  CLI::App app{
      "flatclr: SimCLR / FlatCLR contrastive pretraining (arXiv 2107.01152) in C++ on LibTorch.\n"
      "Flags follow the paper's main.py; e.g.\n"
      "  flatclr --dataset_name=cifar10 --clr=flatclr --faster_version=True\n"
      "Subcommands on a run folder: flatclr diagnose RUN_DIR | flatclr plot RUN_DIR\n",
      "flatclr"};
  app.option_defaults()->always_capture_default();
  // As argparse: a flag given twice takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(34);
  BoolFlags bools;
  ChoiceFlags choices;
  TrainMode train_mode = TrainMode::kSsl;

  // data (shared with evaluation)
  app.add_option("--data", c.data.root,
                 "dataset root folder (holds cifar-10-batches-bin/, cifar-100-binary/)");
  app.add_option(
      "--dataset_name", c.data.dataset_name,
      "cifar10 | cifar100 | any other name: the image folder <data>/<name>/{train,val|test}/<class>/*");
  bools.add(app, "faster_version", &c.faster_version,
            "batched augmentation on the training device (False: the per-image SimCLR pipeline)");
  app.add_option("--workers", c.data.workers,
                 "decoding + augmentation threads of the per-image pipeline (0 = in the training thread)");
  choices.add(app, "--bad_images", &c.data.bad_images,
              "image files that cannot be decoded: skip (reported, counted) | stop (error)");
  app.add_option("--data_fraction", c.data.fraction, "class-stratified fraction of the training set, (0, 1]");
  bools.add(app, "download", &c.data.download, "download missing CIFAR archives (MD5-checked)");
  // method
  choices.add(app, "--clr", &c.clr, "simclr (InfoNCE loss) | flatclr (FlatNCE loss)");
  app.add_option("--temperature", c.temperature, "softmax temperature tau of both losses");
  app.add_option("--n_views", c.n_views, "views per image (only 2)");
  // model
  choices.add(app, "--model", &c.model.arch, "");
  app.add_option("--width_multiplier", c.model.width_multiplier,
                 "scales every ResNet width (CPU-sized runs: 0.125-0.5)");
  choices.add(app, "--proj_head_mode", &c.model.head.mode, "");
  app.add_option("--num_proj_layers", c.model.head.num_layers,
                 "Linear layers of the nonlinear projection head");
  app.add_option("--proj_out_dim", c.model.head.out_dim, "projection output dimension");
  // optimisation
  app.add_option("--batch_size", c.batch_size, "images per step (2x views)");
  app.add_option("--epochs", c.epochs, "pretraining epochs");
  app.add_option("--lr", c.lr, "base learning rate (see --learning_rate_scaling)");
  choices.add(app, "--learning_rate_scaling", &c.learning_rate_scaling,
              "none: lr as given | linear: lr*batch_size/256 | sqrt: lr*sqrt(batch_size)");
  choices.add(app, "--optimizer", &c.optimizer, "");
  app.add_option("--weight_decay", c.weight_decay,
                 "weight decay (LARS: not on biases and batch-norm parameters)");
  app.add_option("--momentum", c.momentum, "SGD momentum");
  choices.add(app, "--scheduler", &c.scheduler,
              "cosine (linear warmup, then cosine to 1e-6, per step) | constant");
  app.add_option("--warmup_epochs", c.warmup_epochs, "linear warmup epochs (cosine scheduler)");
  app.add_flag("--fp16_precision", c.fp16_precision, "mixed precision (GPU; not implemented yet)");
  // run (device, threads, seed and progress are shared with evaluation)
  choices.add(app, "--train_mode", &train_mode,
              "ssl (pretraining) | eval | transfer (evaluation of --checkpoint_dir)");
  app.add_option("--device", c.run.device, "auto | cpu | cuda | cuda:N (auto: cuda when available)");
  app.add_flag("--disable_cuda", c.run.disable_cuda, "force the CPU");
  app.add_option("--seed", c.run.seed, "seed of model init, data order and augmentation");
  app.add_option("--threads", c.run.threads, "CPU threads (0 = all cores)");
  app.add_option("--save_every_n_epochs", c.save_every_n_epochs,
                 "checkpoint period in epochs (and at the end)");
  app.add_option("--save_dir", c.save_dir,
                 "root of new run folders: <save_dir>/<dataset>/<bs>_<Method>/<date>/");
  app.add_option("--log_dir", c.log_dir, "existing run folder to resume into (with --train_from)");
  app.add_option("--train_from", c.train_from,
                 "checkpoint in --log_dir to resume from, e.g. checkpoint_0004.pth.tar");
  app.add_option("--log_every_n_steps", c.log_every_n_steps, "progress/log period in steps");
  app.add_option(
      "--knn_every", c.knn_every,
      "online kNN accuracy (k=200, T=0.1, on the test split) every N epochs during pretraining; 0 = off");
  choices.add(app, "--progress", &c.run.progress,
              "auto (bar on a terminal, lines otherwise) | bar | lines | none");
  // monitoring
  app.add_option("--diag_rank_every", c.diag_rank_every,
                 "effective rank of h and z and std of normalised z every N logging intervals; 0 = off");
  choices.add(
      app, "--on_nonfinite", &c.on_nonfinite,
      "a step whose loss or gradient is NaN/Inf: stop (naming the step and the last checkpoint) | skip");
  bools.add(app, "tensorboard", &c.tensorboard, "write a TensorBoard event file in the run folder");
  bools.add(app, "plots", &c.plots, "PNG plots (gnuplot) and a diagnosis at the end of the run");
  // distributed: torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (or scripts/launch.sh)
  choices.add(app, "--dist_backend", &c.dist_backend,
              "distributed runs: auto (nccl on CUDA when built with it, else gloo) | gloo | nccl");
  bools.add(app, "sync_bn", &c.sync_bn, "distributed runs: BatchNorm statistics over the global batch");
  app.add_option("--dist_timeout", c.dist_timeout,
                 "distributed runs: seconds to wait for the other processes (start-up, each collective)");

  // evaluation (--train_mode=eval or transfer)
  auto& e = result.eval;
  app.add_option("--checkpoint_dir", e.checkpoint_dir, "evaluation: the pretraining run folder");
  choices.add(app, "--transfer_mode", &e.transfer_mode, "evaluation: linear_eval | finetune | knn");
  app.add_option("--transfer_from_epoch", e.transfer_from_epoch,
                 "evaluation: the checkpoint of this epoch (-1 = the newest)");
  bools.add(app, "eval_all_checkpoints", &e.all_checkpoints,
            "evaluation: every checkpoint of the run, oldest first");
  bools.add(app, "eval_random_init", &e.random_init,
            "evaluation: the same architecture randomly initialised (the baseline pretraining must beat)");
  app.add_option("--fc_epochs", e.probe.epochs, "linear probe / finetune epochs");
  app.add_option("--fc_batch_size", e.probe.batch_size, "linear probe / finetune batch size");
  app.add_option("--fc_lr", e.probe.lr, "linear probe / finetune learning rate");
  choices.add(app, "--fc_optimizer", &e.probe.optimizer, "");
  choices.add(app, "--fc_scheduler", &e.probe.scheduler, "cosine (to 1e-6, per step, no warmup) | constant");
  app.add_option("--fc_weight_decay", e.probe.weight_decay, "linear probe / finetune weight decay");
  app.add_option("--fc_momentum", e.probe.momentum, "linear probe / finetune SGD momentum");
  bools.add(
      app, "fc_augment", &e.fc_augment,
      "linear_eval: train through the frozen backbone with random crop + flip (default: fixed features)");
  app.add_option("--knn_k", e.knn_k, "kNN: neighbours");
  app.add_option("--knn_temperature", e.knn_temperature, "kNN: temperature of the exp(cos/T) weights");
  app.add_option(
      "--eval_test_fraction", e.test_fraction,
      "evaluation: class-stratified share of the test split (quick checks; not comparable to full runs)");
  app.add_option("--eval_batch_size", e.eval_batch_size, "evaluation: feature extraction batch size");

  try {
    app.parse(argc, argv);
    bools.apply();
    choices.apply();
    result.evaluate = train_mode != TrainMode::kSsl;
    if (result.evaluate) {
      // The shared settings go to the evaluation as they are; the dataset only when given (else the one
      // the encoder was pretrained on).
      e.data = c.data;
      if (!app.count("--dataset_name")) e.data.dataset_name.clear();
      e.run = c.run;
      if (train_mode == TrainMode::kEval && !app.count("--transfer_mode")) {
        e.transfer_mode = eval::TransferMode::kLinearEval;
      }
      e.validate();
      return result;
    }
    c.dist_env = dist::dist_env_from([](const char* name) { return std::getenv(name); });
    c.validate();
    c.resolve();
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    result.exit_now = true;
    result.exit_code = 0;
  } catch (const CLI::ParseError& e) {
    err << "flatclr: error: " << e.what() << "\n(run flatclr --help for every flag and its default)\n";
    result.exit_now = true;
    result.exit_code = 2;
  } catch (const UsageError& e) {
    err << "flatclr: error: " << to_flags(e.what()) << "\n";
    result.exit_now = true;
    result.exit_code = 2;
  }
  return result;
}

}  // namespace flatclr::cli
