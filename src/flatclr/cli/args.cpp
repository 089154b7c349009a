#include "flatclr/cli/args.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <ostream>

#include "flatclr/cli/flag_names.h"
#include "flatclr/core/build_info.h"
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

enum class TrainMode { kSsl, kEval, kTransfer, kSemi, kSupervised };
constexpr core::Choice<TrainMode> kTrainModes[] = {{TrainMode::kSsl, "ssl"},
                                                   {TrainMode::kEval, "eval"},
                                                   {TrainMode::kTransfer, "transfer"},
                                                   {TrainMode::kSemi, "semi"},
                                                   {TrainMode::kSupervised, "supervised"}};
constexpr const auto& choices_of(TrainMode) { return kTrainModes; }

// Which jobs use a flag. A flag given to a job that does not use it is an error, not silently ignored.
enum FlagUse : unsigned { kUsedByPretrain = 1, kUsedByEval = 2, kUsedBySupervised = 4 };

unsigned flag_use(const std::string& flag) {
  static const std::map<std::string, unsigned> kUse = [] {
    std::map<std::string, unsigned> m;
    for (const char* f : {"faster_version",
                          "color_jitter_strength",
                          "crop_min_scale",
                          "clr",
                          "temperature",
                          "n_views",
                          "batch_size",
                          "epochs",
                          "lr",
                          "learning_rate_scaling",
                          "optimizer",
                          "weight_decay",
                          "momentum",
                          "scheduler",
                          "warmup_epochs",
                          "fp16_precision",
                          "precision",
                          "memory_format",
                          "cuda_graphs",
                          "save_every_n_epochs",
                          "save_every_n_steps",
                          "log_dir",
                          "train_from",
                          "log_every_n_steps",
                          "knn_every",
                          "knn_bank_size",
                          "diag_rank_every",
                          "on_nonfinite",
                          "tensorboard",
                          "plots",
                          "dist_backend",
                          "sync_bn",
                          "dist_timeout"})
      m[f] = kUsedByPretrain;
    m["save_dir"] = kUsedByPretrain | kUsedBySupervised;
    // The flags that describe the encoder: an evaluation checks them against the checkpoint's encoder, as
    // the paper's code, which builds the evaluated network from them (eval/expected_encoder.h).
    for (const char* f : {"model", "width_multiplier"})
      m[f] = kUsedByPretrain | kUsedByEval | kUsedBySupervised;
    for (const char* f : {"proj_head_mode", "num_proj_layers", "proj_out_dim"})
      m[f] = kUsedByPretrain | kUsedByEval;
    for (const char* f : {"checkpoint_dir", "transfer_mode", "transfer_from_epoch", "eval_all_checkpoints",
                          "eval_random_init", "fc_augment", "feature_dtype", "knn_k", "knn_temperature",
                          "transfer_dataset_name", "semi_ratio", "semi_list"})
      m[f] = kUsedByEval;
    for (const char* f :
         {"fc_epochs", "fc_batch_size", "fc_lr", "fc_optimizer", "fc_scheduler", "fc_weight_decay",
          "fc_momentum", "eval_test_fraction", "eval_batch_size", "streaming", "jpeg_draft"})
      m[f] = kUsedByEval | kUsedBySupervised;
    return m;
  }();
  auto it = kUse.find(flag);
  return it == kUse.end() ? kUsedByPretrain | kUsedByEval | kUsedBySupervised : it->second;
}

// UsageError for the first flag given that `job` does not use, saying what the job uses instead.
void refuse_unused_flags(const CLI::App& app, FlagUse job, const std::string& mode) {
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->count() == 0 || opt->get_lnames().empty()) continue;
    const std::string name = opt->get_lnames().front();
    const unsigned use = flag_use(name);
    if (use & job) continue;
    const std::string flag = "--" + name;
    if (job == kUsedByPretrain) {
      fail_usage(flag,
                 ": an evaluation flag, which pretraining (--train_mode=ssl) does not use; evaluate the run "
                 "afterwards with --train_mode=eval --checkpoint_dir=<its run folder>");
    }
    if (job == kUsedByEval) {
      fail_usage(flag, ": a pretraining flag, which --train_mode=", mode,
                 " does not use (an evaluation takes ",
                 "the encoder from --checkpoint_dir and trains with the --fc_* flags)");
    }
    fail_usage(flag,
               ": not used by --train_mode=supervised, which starts from random weights and trains with ",
               "the --fc_* flags (--fc_epochs, --fc_lr, --fc_batch_size, ...)");
  }
}

// Parses a subcommand's own App; --help and errors end the run with the usual exit codes.
template <typename Validate>
void parse_subcommand(CLI::App& app, int argc, const char* const* argv, ParsedArgs& result, BoolFlags& bools,
                      ChoiceFlags& choices, std::ostream& out, std::ostream& err, const std::string& name,
                      Validate validate) {
  try {
    app.parse(argc - 1, argv + 1);
    bools.apply();
    choices.apply();
    validate();
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    result.exit_now = true;
  } catch (const CLI::ParseError& e) {
    err << "flatclr " << name << ": error: " << e.what() << "\n(run flatclr " << name << " --help)\n";
    result.exit_now = true;
    result.exit_code = 2;
  } catch (const UsageError& e) {
    err << "flatclr " << name << ": error: " << to_flags(e.what()) << "\n";
    result.exit_now = true;
    result.exit_code = 2;
  }
}

ParsedArgs parse_report_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  ParsedArgs result;
  const std::string name = argv[1];
  const bool diagnose = name == "diagnose";
  result.command = diagnose ? Command::kDiagnose : Command::kPlot;
  CLI::App app{diagnose
                   ? "flatclr diagnose: a report in plain words on a pretraining run (running or finished), "
                     "from its run folder's logs"
                   : "flatclr plot: PNG plots (gnuplot) of a pretraining run into <run folder>/plots/",
               "flatclr " + name};
  app.add_option("run_dir", result.run_dir, "the run folder, e.g. results/cifar10/16_SimCLR/<date>")
      ->required();
  BoolFlags bools;
  ChoiceFlags choices;
  parse_subcommand(app, argc, argv, result, bools, choices, out, err, name, [] {});
  return result;
}

ParsedArgs parse_export_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  ParsedArgs result;
  result.command = Command::kExport;
  auto& x = result.export_config;
  CLI::App app{
      "flatclr export: the backbone of a pretrained encoder as a file other tools load: a .pth state dict "
      "(torch.load; torchvision's ResNet keys, only fc.* missing) or .safetensors (with metadata: "
      "architecture, stem, width, normalisation, method, epochs)",
      "flatclr export"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(34);
  BoolFlags bools;
  ChoiceFlags choices;
  app.add_option("--checkpoint_dir", x.checkpoint_dir, "the pretraining run folder")->required();
  app.add_option("--transfer_from_epoch", x.transfer_from_epoch,
                 "the checkpoint of this epoch (-1 = the newest)");
  std::string format_text;
  app.add_option("--format", format_text, "pth | safetensors (default: from the --output extension)");
  app.add_option("--output", x.output, "the file to write, e.g. encoder.pth or encoder.safetensors")
      ->required();
  parse_subcommand(app, argc, argv, result, bools, choices, out, err, "export", [&] {
    if (!format_text.empty()) {
      const auto f = core::parse_choice<eval::ExportFormat>(format_text);
      if (!f)
        fail_usage("--format=", format_text, ": expected one of ", core::choice_list<eval::ExportFormat>());
      x.format = *f;
    } else {
      const auto ext = std::filesystem::path(x.output).extension().string();
      if (ext == ".safetensors") {
        x.format = eval::ExportFormat::kSafetensors;
      } else if (ext == ".pth" || ext == ".pt" || ext == ".bin") {
        x.format = eval::ExportFormat::kPth;
      } else {
        fail_usage("--output=", x.output, ": cannot tell the format from the extension '", ext,
                   "'; give --format=pth or --format=safetensors (or name it .pth / .safetensors)");
      }
    }
    x.validate();
  });
  return result;
}

ParsedArgs parse_embed_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  ParsedArgs result;
  result.command = Command::kEmbed;
  auto& m = result.embed;
  CLI::App app{
      "flatclr embed: the encoder's features h (and optionally the projections z) for every image of a "
      "dataset split, as <output>_features.npy, <output>_labels.npy [, <output>_projections.npy], with a "
      "2-D PCA picture <output>_pca.png",
      "flatclr embed"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(34);
  BoolFlags bools;
  ChoiceFlags choices;
  app.add_option("--checkpoint_dir", m.checkpoint_dir, "the pretraining run folder")->required();
  app.add_option("--transfer_from_epoch", m.transfer_from_epoch,
                 "the checkpoint of this epoch (-1 = the newest)");
  app.add_option("--data", m.data.root, "dataset root folder");
  app.add_option(
      "--dataset_name", m.data.dataset_name,
      "cifar10 | cifar100 | an image folder's name (default: the one the encoder was pretrained on)");
  bools.add(app, "download", &m.data.download, "download missing CIFAR archives (MD5-checked)");
  choices.add(app, "--bad_images", &m.data.bad_images, "image files that cannot be decoded: skip | stop");
  app.add_option("--workers", m.data.workers, "decoding threads for image folders");
  choices.add(
      app, "--streaming", &m.data.streaming,
      "read the split from disk batch by batch: auto (ImageNet-sized folders) | on | off (in memory)");
  bools.add(app, "jpeg_draft", &m.data.jpeg_draft,
            "ImageNet-sized folders: decode large JPEGs at 1/2, 1/4 or 1/8 size in the DCT domain before "
            "Resize(256) (faster; not PIL's exact pixels)");
  choices.add(app, "--split", &m.split, "train | test");
  app.add_option("--output", m.output, "prefix of the files written, e.g. out/cifar10_test")->required();
  bools.add(app, "projection", &m.projection, "also write the projections z (<output>_projections.npy)");
  app.add_option("--batch_size", m.batch_size, "images per forward pass");
  app.add_option("--device", m.run.device, "auto | cpu | cuda | cuda:N");
  app.add_flag("--disable_cuda", m.run.disable_cuda, "force the CPU");
  app.add_option("--threads", m.run.threads, "CPU threads (0 = all cores)");
  choices.add(app, "--progress", &m.run.progress, "auto | bar | lines | none");
  parse_subcommand(app, argc, argv, result, bools, choices, out, err, "embed", [&] { m.validate(); });
  return result;
}

// Where `--precision=auto` keeps its CPU step-time measurements (train/precision_cache.h): the user's cache
// folder, as XDG says, and FLATCLR_CACHE_DIR to move it; "" (no cache) when no home is known.
std::string precision_cache_path() {
  const auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  std::string dir = env("FLATCLR_CACHE_DIR");
  if (dir.empty() && !env("XDG_CACHE_HOME").empty()) dir = env("XDG_CACHE_HOME") + "/flatclr";
  if (dir.empty() && !env("HOME").empty()) dir = env("HOME") + "/.cache/flatclr";
  return dir.empty() ? "" : dir + "/precision-probe.json";
}

}  // namespace

ParsedArgs parse_args(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  const std::string first = argc >= 2 ? argv[1] : "";
  if (first == "diagnose" || first == "plot") return parse_report_args(argc, argv, out, err);
  if (first == "export") return parse_export_args(argc, argv, out, err);
  if (first == "embed") return parse_embed_args(argc, argv, out, err);
  ParsedArgs result;
  auto& c = result.config;
  CLI::App app{
      "flatclr: SimCLR / FlatCLR contrastive pretraining (arXiv 2107.01152) in C++ on LibTorch.\n"
      "Flags follow the paper's main.py; e.g.\n"
      "  flatclr --dataset_name=cifar10 --clr=flatclr --faster_version=True\n"
      "Subcommands: flatclr diagnose RUN_DIR | plot RUN_DIR | export ... | embed ... (each with --help)\n"
      "This flatclr: " +
          flatclr::core::build_description() + "\n",
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
  // Unset unless given: the dataset's strength, or a resumed run's own (train::PretrainConfig).
  double color_jitter_strength = 0;
  CLI::Option* color_jitter_option =
      app.add_option("--color_jitter_strength", color_jitter_strength,
                     "colour distortion strength s: ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) in both augmentation "
                     "paths, in [0, 2.5]; 0 = no colour jitter (default: the dataset's, 0.5 for CIFAR-sized "
                     "images and 1 for ImageNet-sized; a resumed run keeps its own)")
          ->default_str("dataset");
  app.add_option(
         "--crop_min_scale", c.crop_min_scale,
         "the smallest area fraction of the random crop, in (0, 1]: RandomResizedCrop's scale range is "
         "(crop_min_scale, 1) in both augmentation paths; larger = views that overlap more")
      ->capture_default_str();
  app.add_option(
      "--workers", c.data.workers,
      "decoding + augmentation threads of the per-image pipeline (0 = in the training thread; -1 = "
      "one per core: the cores / the processes on this machine)");
  choices.add(app, "--bad_images", &c.data.bad_images,
              "image files that cannot be decoded: skip (reported, counted) | stop (error)");
  app.add_option("--data_fraction", c.data.fraction, "class-stratified fraction of the training set, (0, 1]");
  choices.add(
      app, "--streaming", &c.data.streaming,
      "evaluation and supervised runs: read image folders from disk batch by batch: auto (ImageNet-sized "
      "folders; CIFAR and small folders in memory) | on (every folder) | off (every split in memory)");
  bools.add(app, "jpeg_draft", &c.data.jpeg_draft,
            "evaluation and supervised runs: decode large JPEGs of ImageNet-sized folders at 1/2, 1/4 or 1/8 "
            "size in the DCT domain before Resize(256) (faster; not PIL's exact pixels)");
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
  app.add_option("--momentum", c.momentum, "momentum of SGD and of LARS (the reference's 0.9 for both)");
  choices.add(app, "--scheduler", &c.scheduler,
              "cosine (linear warmup, then cosine to 1e-6, per step) | constant");
  app.add_option("--warmup_epochs", c.warmup_epochs, "linear warmup epochs (cosine scheduler)");
  choices.add(
      app, "--precision", &c.precision,
      "auto | fp32 | bf16 | fp16: the encoder's arithmetic in training (autocast; the loss stays fp32). "
      "auto: bf16 on GPUs with bf16 (compute capability >= 8.0) and on CPUs with AMX, else fp32; fp16 "
      "(GPU) adds dynamic loss scaling");
  choices.add(
      app, "--memory_format", &c.memory_format,
      "auto | contiguous | channels_last: the layout of activations and conv weights in training (auto: "
      "channels_last)");
  app.add_flag("--fp16_precision", c.fp16_precision, "the reference's flag for --precision=fp16 (GPU)");
  bools.add(
      app, "cuda_graphs", &c.cuda_graphs,
      "on a CUDA device with --optimizer=lars in one process: replay the training step as one CUDA graph "
      "(False: launch its kernels one by one)");
  // run (device, threads, seed and progress are shared with evaluation)
  choices.add(
      app, "--train_mode", &train_mode,
      "ssl (pretraining) | eval | transfer | semi (evaluations of --checkpoint_dir) | supervised (the "
      "same architecture trained with labels from scratch, as finetune)");
  app.add_option("--device", c.run.device, "auto | cpu | cuda | cuda:N (auto: cuda when available)");
  app.add_flag("--disable_cuda", c.run.disable_cuda, "force the CPU");
  app.add_option("--seed", c.run.seed, "seed of model init, data order and augmentation");
  app.add_option("--threads", c.run.threads,
                 "CPU threads (0 = the cores / the processes on this machine, as torchrun's convention)");
  app.add_option("--save_every_n_epochs", c.save_every_n_epochs,
                 "checkpoint period in epochs (and at the end)");
  app.add_option("--save_dir", c.save_dir,
                 "root of new run folders: <save_dir>/<dataset>/<bs>_<Method>/<date>/");
  app.add_option("--save_every_n_steps", c.save_every_n_steps,
                 "also a checkpoint every N steps, inside epochs (0 = off; only the newest is kept)");
  app.add_option("--log_dir", c.log_dir,
                 "run folder to continue: resumes --train_from, or without it the newest complete checkpoint "
                 "in the folder (a new run starts there when it has none)");
  app.add_option("--train_from", c.train_from,
                 "checkpoint in --log_dir to resume from, e.g. checkpoint_0004.pth.tar");
  app.add_option("--log_every_n_steps", c.log_every_n_steps, "progress/log period in steps");
  app.add_option(
      "--knn_every", c.knn_every,
      "online kNN accuracy (k=200, T=0.1, on the test split) every N epochs during pretraining; 0 = off");
  app.add_option("--knn_bank_size", c.knn_bank_size,
                 "online kNN of a folder streamed from disk: training images in the bank (class-stratified)");
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
  choices.add(
      app, "--feature_dtype", &e.feature_dtype,
      "linear_eval of a streamed split: the feature file's precision, float16 (half the disk) | float32");
  app.add_option("--knn_k", e.knn_k, "kNN: neighbours");
  app.add_option("--knn_temperature", e.knn_temperature, "kNN: temperature of the exp(cos/T) weights");
  app.add_option(
      "--eval_test_fraction", e.test_fraction,
      "evaluation: class-stratified share of the test split (quick checks; not comparable to full runs)");
  app.add_option("--eval_batch_size", e.eval_batch_size, "evaluation: feature extraction batch size");
  app.add_option(
      "--transfer_dataset_name", e.transfer_dataset,
      "transfer: the dataset to evaluate on (cifar10 | cifar100 | an image folder's name); default: "
      "--dataset_name, else the pretraining dataset");
  app.add_option("--semi_ratio", e.semi_ratio,
                 "semi: labelled share of each class of the training split (0.01, 0.1, ...)");
  app.add_option(
      "--semi_list", e.semi_list,
      "semi: a file naming the labelled images instead, one per line (a path relative to the train "
      "folder, or a file name), as SimCLR's 1%/10% ImageNet lists");
  bool from_pretrained = false;
  bools.add(app, "from_pretrained", &from_pretrained,
            "the reference's warm start from a hard-coded checkpoint: not supported (use --checkpoint_dir)");

  try {
    app.parse(argc, argv);
    bools.apply();
    choices.apply();
    if (color_jitter_option->count() > 0) c.color_jitter_strength = color_jitter_strength;
    if (from_pretrained) {
      fail_usage(
          "--from_pretrained=True: the reference warm-starts from a checkpoint path written into its "
          "code; give the run folder instead: --checkpoint_dir=<run> with --train_mode=transfer or semi");
    }
    const std::string mode_name = core::name_of(train_mode);
    refuse_unused_flags(app,
                        train_mode == TrainMode::kSsl          ? kUsedByPretrain
                        : train_mode == TrainMode::kSupervised ? kUsedBySupervised
                                                               : kUsedByEval,
                        mode_name);
    if (train_mode == TrainMode::kSupervised) {
      result.command = Command::kSupervised;
      auto& v = result.supervised;
      v.data = c.data;
      v.model = c.model;
      v.probe = e.probe;
      v.test_fraction = e.test_fraction;
      v.eval_batch_size = e.eval_batch_size;
      v.save_dir = c.save_dir;
      v.run = c.run;
      v.validate();
      return result;
    }
    if (train_mode != TrainMode::kSsl) {
      result.command = Command::kEvaluate;
      e.protocol = train_mode == TrainMode::kSemi       ? eval::Protocol::kSemi
                   : train_mode == TrainMode::kTransfer ? eval::Protocol::kTransfer
                                                        : eval::Protocol::kEval;
      if (train_mode == TrainMode::kSemi && !app.count("--transfer_mode"))
        e.transfer_mode = eval::TransferMode::kFinetune;
      // The shared settings go to the evaluation as they are; the dataset only when given (else the one
      // the encoder was pretrained on).
      e.data = c.data;
      if (!app.count("--dataset_name")) e.data.dataset_name.clear();
      e.run = c.run;
      if (app.count("--model")) e.model.arch = c.model.arch;
      if (app.count("--width_multiplier")) e.model.width_multiplier = c.model.width_multiplier;
      if (app.count("--proj_head_mode")) e.model.head_mode = c.model.head.mode;
      if (app.count("--num_proj_layers")) e.model.head_num_layers = c.model.head.num_layers;
      if (app.count("--proj_out_dim")) e.model.head_out_dim = c.model.head.out_dim;
      // A value no encoder can have (--width_multiplier=0) is wrong whatever the checkpoint holds.
      if (!e.model.empty()) c.model.validate();
      if (train_mode == TrainMode::kEval && !app.count("--transfer_mode")) {
        e.transfer_mode = eval::TransferMode::kLinearEval;
      }
      e.validate();
      return result;
    }
    c.dist_env = dist::dist_env_from([](const char* name) { return std::getenv(name); });
    c.precision_cache = precision_cache_path();
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
