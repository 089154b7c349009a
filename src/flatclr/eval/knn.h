// Weighted k-nearest-neighbour classification of fixed features, the kNN monitor of the self-supervised
// literature (Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance
// Discrimination", eq. 9; as in the kNN monitors of MoCo, DINO and solo-learn):
//   f <- f / max(||f||, 1e-12) for every train and test feature (cosine similarity = dot product)
//   N_k(x) = the k train samples with the largest similarity s_i = <f(x), f_i>   (k clamped to N)
//   score_c(x) = sum over i in N_k(x) with y_i = c of exp(s_i / T)
// The predicted class is argmax_c score_c. Test rows are processed in chunks, so memory is
// O(chunk * N) for the similarities; everything runs on the device of the inputs. The weights and the
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
