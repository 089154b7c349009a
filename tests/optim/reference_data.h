// Shared helpers of the optim tests: the PyTorch-generated reference values
// (scripts/gen/gen_optim_reference.py -> tests/optim/data/optim_reference.json) and a closeness check.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_paths.h"

namespace flatclr::testing {

inline const nlohmann::json& optim_reference() {
  static const nlohmann::json j = [] {
    std::ifstream f(source_path("tests/optim/data/optim_reference.json"));
    if (!f.good()) throw std::runtime_error("missing tests/optim/data/optim_reference.json");
    return nlohmann::json::parse(f);
  }();
  return j;
}

// values: a flat JSON list; shape: its shape.
inline torch::Tensor tensor_from_json(const nlohmann::json& values, const std::vector<int64_t>& shape,
                                      torch::Dtype dtype) {
  std::vector<double> v = values.get<std::vector<double>>();
  return torch::tensor(v, torch::kFloat64).reshape(shape).to(dtype);
}

// |actual - expected| <= atol + rtol * |expected| everywhere; reports the largest violation.
inline ::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                            double rtol, double atol) {
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " vs " << expected.sizes();
  }
  const auto a = actual.detach().to(torch::kFloat64);
  const auto e = expected.detach().to(torch::kFloat64);
  const auto diff = (a - e).abs();
  const auto excess = diff - (atol + rtol * e.abs());
  const double max_diff = diff.max().item<double>();
  if (!torch::isfinite(a).all().item<bool>() || excess.max().item<double>() > 0) {
    return ::testing::AssertionFailure()
           << "max abs diff " << max_diff << " (rtol " << rtol << ", atol " << atol << ")\nactual:\n"
           << a << "\nexpected:\n"
           << e;
  }
  return ::testing::AssertionSuccess() << "max abs diff " << max_diff;
}

}  // namespace flatclr::testing
