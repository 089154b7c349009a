// Weighted k-nearest-neighbour classification of fixed features, the kNN monitor of the self-supervised
// literature (Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance
// Discrimination", eq. 9; as in the kNN monitors of MoCo, DINO and solo-learn):
//   f <- f / max(||f||, 1e-12) for every train and test feature (cosine similarity = dot product)
//   N_k(x) = the k train samples with the largest similarity s_i = <f(x), f_i>   (k clamped to N)
//   score_c(x) = sum over i in N_k(x) with y_i = c of exp(s_i / T)
// The predicted class is argmax_c score_c. The train features are the bank, one [N, D] matrix on the device
// of the inputs; test rows are scored in chunks of at most `chunk` rows and at most kKnnChunkBytes of
// similarities, so memory is the bank plus one chunk's [rows, N] similarities, however many queries come
// (ImageNet-1k: a 1.28 M x 2048 float32 bank is 10.5 GB, chunks of 52 queries). The weights and the
// scores are computed in float64, so exp(s / T) does not overflow for T >= ~1.5e-3 (float32 would
// overflow below T ~ 0.012). When several train samples tie with the k-th similarity, at::topk picks
// among them in an unspecified order.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "flatclr/eval/accuracy.h"

namespace flatclr::eval {

constexpr int64_t kKnnK = 200;
constexpr double kKnnTemperature = 0.1;
constexpr int64_t kKnnChunk = 1024;
constexpr int64_t kKnnChunkBytes = int64_t{256} << 20;  // similarities of one chunk: at most 256 MiB

// The bank of a kNN classifier: the normalised train features and their labels, scored against queries
// that may come batch by batch (a streamed test split).
class KnnBank {
 public:
  // train_features: [N, D] float, N >= 1 (normalised here into a copy: float32 unless float64; or, with
  // normalized = true, taken as they are, already normalize_rows_()'d); train_labels: [N] integer in
  // [0, num_classes), on the features' device. UserError on shapes, devices, labels, k < 1, T <= 0.
  KnnBank(const at::Tensor& train_features, const at::Tensor& train_labels, int64_t num_classes,
          int64_t k = kKnnK, double temperature = kKnnTemperature, bool normalized = false);

  // [M, D] queries (any float type, the bank's device) -> [M, num_classes] float64 class scores, chunk by
  // chunk (chunk >= 1 rows, fewer when N is large, see above).
  at::Tensor scores(const at::Tensor& test_features, int64_t chunk = kKnnChunk) const;
  // Top-1/top-5 counts of the queries against their labels ([M] integer in [0, num_classes)).
  TopKCounts evaluate(const at::Tensor& test_features, const at::Tensor& test_labels,
                      int64_t chunk = kKnnChunk) const;

  int64_t size() const { return train_.size(0); }
  // Rows divided by max(||row||, 1e-12) in place (F::normalize's arithmetic): how a bank filled batch by
  // batch is prepared. x: [n, D] float32 or float64.
  static void normalize_rows_(at::Tensor& x);

 private:
  at::Tensor train_;   // [N, D] normalised, float32 or float64
  at::Tensor labels_;  // [N] int64
  int64_t num_classes_ = 0, k_ = 0;
  double temperature_ = 0;
};

// The whole classifier in one call (the bank, then every query):
// train_features: [N, D] float, N >= 1
// train_labels:   [N] integer in [0, num_classes)
// test_features:  [M, D] float, same device as train_features
// Returns [M, num_classes] float64 class scores on that device. Throws flatclr::UserError on shape,
// device or label mismatches and on k < 1, temperature <= 0, chunk < 1, num_classes < 1.
at::Tensor knn_scores(const at::Tensor& train_features, const at::Tensor& train_labels,
                      const at::Tensor& test_features, int64_t num_classes, int64_t k = kKnnK,
                      double temperature = kKnnTemperature, int64_t chunk = kKnnChunk);

// Top-1 / top-5 counts of the kNN classifier above (per sample), chunk by chunk without holding all
// [M, num_classes] scores. test_labels: [M] integer in [0, num_classes).
TopKCounts knn_evaluate(const at::Tensor& train_features, const at::Tensor& train_labels,
                        const at::Tensor& test_features, const at::Tensor& test_labels, int64_t num_classes,
                        int64_t k = kKnnK, double temperature = kKnnTemperature, int64_t chunk = kKnnChunk);

}  // namespace flatclr::eval
