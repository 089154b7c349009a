#include "flatclr/eval/split_knn.h"

#include <torch/torch.h>

#include "flatclr/core/error.h"
#include "flatclr/eval/features.h"
#include "flatclr/eval/knn.h"

namespace flatclr::eval {

SplitKnnResult split_knn(models::ResNet& model, const std::shared_ptr<const data::LabelledSplit>& train,
                         const std::shared_ptr<const data::LabelledSplit>& test, const c10::Device& device,
                         const SplitKnnOptions& o) {
  auto bank = torch::empty({train->size(), model->feature_dim()},
                           torch::TensorOptions().dtype(torch::kFloat).device(device));
  auto labels = torch::empty({train->size()}, torch::TensorOptions().dtype(torch::kLong).device(device));
  int64_t rows = 0;
  for_each_feature_batch(model, train, o.batch_size, device, o.loader, o.progress, "features train",
                         [&](const at::Tensor& h, const data::SplitBatch& b) {
                           auto slot = bank.slice(0, rows, rows + h.size(0));
                           slot.copy_(h);
                           KnnBank::normalize_rows_(slot);
                           labels.slice(0, rows, rows + h.size(0)).copy_(b.labels);
                           rows += h.size(0);
                         });
  if (rows == 0) fail(train->name(), ": no image of the training split could be decoded");
  const KnnBank knn(bank.slice(0, 0, rows), labels.slice(0, 0, rows), train->num_classes(), o.k,
                    o.temperature,
                    /*normalized=*/true);
  SplitKnnResult r;
  r.bank_rows = rows;
  for_each_feature_batch(model, test, o.batch_size, device, o.loader, o.progress, "kNN test",
                         [&](const at::Tensor& h, const data::SplitBatch& b) {
                           r.counts.add(knn.evaluate(h, b.labels.to(device)));
                         });
  return r;
}

}  // namespace flatclr::eval
