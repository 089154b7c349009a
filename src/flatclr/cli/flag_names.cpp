#include "flatclr/cli/flag_names.h"

#include <algorithm>

namespace flatclr::cli {

const std::vector<std::pair<std::string_view, std::string_view>>& field_flags() {
  static const std::vector<std::pair<std::string_view, std::string_view>> kTable = {
      // shared data settings (data::DataConfig)
      {"data.root", "--data"},
      {"data.dataset_name", "--dataset_name"},
      {"data.download", "--download"},
      {"data.bad_images", "--bad_images"},
      {"data.workers", "--workers"},
      {"data.fraction", "--data_fraction"},
      {"data.streaming", "--streaming"},
      {"data.jpeg_draft", "--jpeg_draft"},
      // shared run settings (core::RunSettings)
      {"run.device", "--device"},
      {"run.disable_cuda", "--disable_cuda"},
      {"run.threads", "--threads"},
      {"run.seed", "--seed"},
      {"run.progress", "--progress"},
      // pretraining (train::PretrainConfig)
      {"faster_version", "--faster_version"},
      {"color_jitter_strength", "--color_jitter_strength"},
      {"crop_min_scale", "--crop_min_scale"},
      {"clr", "--clr"},
      {"temperature", "--temperature"},
      {"n_views", "--n_views"},
      {"model.arch", "--model"},
      {"model.width_multiplier", "--width_multiplier"},
      {"model.head.mode", "--proj_head_mode"},
      {"model.head.num_layers", "--num_proj_layers"},
      {"model.head.out_dim", "--proj_out_dim"},
      {"batch_size", "--batch_size"},
      {"epochs", "--epochs"},
      {"lr", "--lr"},
      {"learning_rate_scaling", "--learning_rate_scaling"},
      {"optimizer", "--optimizer"},
      {"weight_decay", "--weight_decay"},
      {"momentum", "--momentum"},
      {"scheduler", "--scheduler"},
      {"warmup_epochs", "--warmup_epochs"},
      {"fp16_precision", "--fp16_precision"},
      {"precision", "--precision"},
      {"memory_format", "--memory_format"},
      {"cuda_graphs", "--cuda_graphs"},
      {"save_every_n_epochs", "--save_every_n_epochs"},
      {"save_every_n_steps", "--save_every_n_steps"},
      {"save_dir", "--save_dir"},
      {"log_dir", "--log_dir"},
      {"train_from", "--train_from"},
      {"log_every_n_steps", "--log_every_n_steps"},
      {"knn_every", "--knn_every"},
      {"knn_bank_size", "--knn_bank_size"},
      {"diag_rank_every", "--diag_rank_every"},
      {"on_nonfinite", "--on_nonfinite"},
      {"tensorboard", "--tensorboard"},
      {"plots", "--plots"},
      {"dist_backend", "--dist_backend"},
      {"sync_bn", "--sync_bn"},
      {"dist_timeout", "--dist_timeout"},
      // which job: pretraining (ssl) or evaluation (eval, transfer); the CLI's own
      {"train_mode", "--train_mode"},
      // evaluation (eval::EvalConfig)
      {"checkpoint_dir", "--checkpoint_dir"},
      {"transfer_from_epoch", "--transfer_from_epoch"},
      {"all_checkpoints", "--eval_all_checkpoints"},
      {"random_init", "--eval_random_init"},
      {"transfer_mode", "--transfer_mode"},
      {"test_fraction", "--eval_test_fraction"},
      {"probe.epochs", "--fc_epochs"},
      {"probe.batch_size", "--fc_batch_size"},
      {"probe.lr", "--fc_lr"},
      {"probe.momentum", "--fc_momentum"},
      {"probe.weight_decay", "--fc_weight_decay"},
      {"probe.optimizer", "--fc_optimizer"},
      {"probe.scheduler", "--fc_scheduler"},
      {"fc_augment", "--fc_augment"},
      {"feature_dtype", "--feature_dtype"},
      {"knn_k", "--knn_k"},
      {"knn_temperature", "--knn_temperature"},
      {"eval_batch_size", "--eval_batch_size"},
      {"transfer_dataset", "--transfer_dataset_name"},
      {"semi_ratio", "--semi_ratio"},
      {"semi_list", "--semi_list"},
      // flatclr export / flatclr embed
      {"export.output", "--output"},
      {"embed.output", "--output"},
      {"embed.batch_size", "--batch_size"},
  };
  return kTable;
}

std::string flag_of(std::string_view field) {
  for (const auto& [path, flag] : field_flags()) {
    if (path == field) return std::string(flag);
  }
  return "";
}

namespace {

// The flag for a backquoted name: a field path, else a flag's own name.
std::string flag_for_name(std::string_view name) {
  std::string flag = flag_of(name);
  if (!flag.empty()) return flag;
  for (const auto& [path, f] : field_flags()) {
    if (f.substr(2) == name) return std::string(f);
  }
  return "";
}

}  // namespace

std::string to_flags(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  size_t i = 0;
  while (i < message.size()) {
    const size_t open = message.find('`', i);
    if (open == std::string_view::npos) break;
    const size_t close = message.find('`', open + 1);
    if (close == std::string_view::npos) break;
    const std::string flag = flag_for_name(message.substr(open + 1, close - open - 1));
    out.append(message.substr(i, open - i));
    if (flag.empty()) {
      out.append(message.substr(open, close + 1 - open));
    } else {
      out += flag;
    }
    i = close + 1;
  }
  out.append(message.substr(i));
  return out;
}

FlagNamesFilter::FlagNamesFilter(std::ostream& stream) : stream_(stream), target_(stream.rdbuf(this)) {}

FlagNamesFilter::~FlagNamesFilter() {
  forward();
  target_->pubsync();
  stream_.rdbuf(target_);
}

FlagNamesFilter::int_type FlagNamesFilter::overflow(int_type ch) {
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  line_.push_back(traits_type::to_char_type(ch));
  if (ch == '\n') forward();
  return ch;
}

int FlagNamesFilter::sync() {
  // An unbalanced backquote: a field name is still being written (std::cerr flushes after every write).
  if (std::count(line_.begin(), line_.end(), '`') % 2 == 0) forward();
  return target_->pubsync();
}

void FlagNamesFilter::forward() {
  if (line_.empty()) return;
  const std::string text = to_flags(line_);
  target_->sputn(text.data(), static_cast<std::streamsize>(text.size()));
  line_.clear();
}

}  // namespace flatclr::cli
