#include "flatclr/eval/embed.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include "flatclr/core/device.h"
#include "flatclr/core/error.h"
#include "flatclr/core/progress.h"
#include "flatclr/core/threads.h"
#include "flatclr/data/open_dataset.h"
#include "flatclr/data/split_loader.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/run_checkpoints.h"
#include "flatclr/io/npy.h"

namespace flatclr::eval {

void EmbedConfig::validate() const {
  if (checkpoint_dir.empty()) fail_usage(Field{"checkpoint_dir"}, ": required (the pretraining run folder)");
  if (output.empty()) fail_usage(Field{"embed.output"}, ": required (the prefix of the files to write)");
  if (std::filesystem::is_directory(output))
    fail_usage(Field{"embed.output"}, "=", output, ": is a folder; give a prefix such as ", output, "/test");
  if (batch_size < 1) fail_usage(Field{"embed.batch_size"}, "=", batch_size, ": must be at least 1");
  data.validate();
  run.validate();
}

EmbedResult embed(const EmbedConfig& c) {
  c.validate();
  const auto start = std::chrono::steady_clock::now();
  const int threads = core::set_num_threads(c.run.threads);
  const c10::Device device = core::resolve_device(c.run.device, c.run.disable_cuda);
  EmbedResult r;
  r.checkpoint = choose_checkpoint(c.checkpoint_dir, c.transfer_from_epoch);
  LoadedEncoder enc = load_encoder(r.checkpoint);
  r.dataset = !c.data.dataset_name.empty()
                  ? c.data.dataset_name
                  : (enc.pretrain_dataset.empty() ? "cifar10" : enc.pretrain_dataset);
  enc.model->to(device);
  enc.model->eval();

  data::OpenOptions open = c.data.open_options();
  open.threads = std::max(open.threads, threads);
  auto bad = std::make_shared<data::BadImages>(open.stop_on_bad);
  const auto split = std::make_shared<const data::LabelledSplit>(
      data::open_labelled_split(c.data.root, r.dataset, c.split == Split::kTrain, open, bad));
  r.class_names = split->class_names();
  r.feature_dim = enc.model->feature_dim();
  std::cout << "flatclr embed: " << r.checkpoint << " on " << r.dataset << " " << core::name_of(c.split)
            << " (" << split->size() << " images" << (split->streamed() ? ", streamed from disk" : "")
            << "), device " << device.str() << ", " << threads << " threads" << std::endl;
  data::SplitLoaderOptions lo;
  lo.workers = open.threads;
  lo.pin_memory = device.is_cuda();
  data::SplitLoader batches(split, lo);
  batches.start_in_order(c.batch_size);

  const std::string features_path = c.output + "_features.npy";
  const std::string projections_path = c.output + "_projections.npy";
  const std::string labels_path = c.output + "_labels.npy";
  io::NpyWriter features(features_path, at::kFloat, {r.feature_dim});
  std::optional<io::NpyWriter> projections;
  io::NpyWriter labels(labels_path, at::kLong, {});
  const int64_t stride =
      std::max<int64_t>(1, (split->size() + c.sample_rows - 1) / std::max<int64_t>(1, c.sample_rows));
  std::vector<at::Tensor> sample_x, sample_y;

  const int64_t steps = batches.batches();
  core::Progress progress(c.run.progress, "embed", steps, c.batch_size);
  torch::NoGradGuard no_grad;
  data::SplitBatch batch;
  int64_t step = 0;
  while (batches.next(batch)) {
    ++step;
    if (batch.images.size(0) > 0) {
      auto x = to_unit_float(batch.images, device);
      at::Tensor h, z;
      if (c.projection) {
        std::tie(h, z) = enc.model->forward(x);
        if (!projections) projections.emplace(projections_path, at::kFloat, std::vector<int64_t>{z.size(1)});
        projections->append(z);
      } else {
        h = enc.model->features(x);
      }
      h = h.to(torch::kCPU).to(torch::kFloat);
      // The rows whose global index is a multiple of `stride` go to the sample.
      const int64_t first = features.rows();
      const int64_t offset = (stride - first % stride) % stride;
      if (offset < h.size(0)) {
        auto idx = torch::arange(offset, h.size(0), stride, torch::kLong);
        sample_x.push_back(h.index_select(0, idx));
        sample_y.push_back(batch.labels.index_select(0, idx));
      }
      features.append(h);
      labels.append(batch.labels);
    }
    progress.update(step, "rows " + std::to_string(features.rows()));
  }
  progress.finish();
  if (features.rows() == 0) fail(r.dataset, ": no image of the split could be decoded; nothing written");
  features.finish();
  r.files.push_back(features_path);
  if (projections) {
    projections->finish();
    r.files.push_back(projections_path);
  }
  labels.finish();
  r.files.push_back(labels_path);
  r.rows = features.rows();
  r.bad_images = bad->count();
  r.sample_features = torch::cat(sample_x);
  r.sample_labels = torch::cat(sample_y);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace flatclr::eval
