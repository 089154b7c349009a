#include "flatclr/eval/expected_encoder.h"

#include <algorithm>
#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::eval {
namespace {

template <typename T>
[[noreturn]] void contradicts(const char* field, const T& given, const std::string& what, const T& found) {
  fail_usage(Field{field}, "=", given, " contradicts ", what, ", whose encoder has ", Field{field}, "=",
             found, " (read off its state dict): give ", Field{field}, "=", found,
             " or leave it out; an evaluation rebuilds the encoder the checkpoint holds");
}

}  // namespace

void check_expected_encoder(const ExpectedEncoder& expected, const models::ResNetOptions& found,
                            const std::string& what) {
  using core::name_of;
  if (expected.arch && *expected.arch != found.arch)
    contradicts("model.arch", std::string(name_of(*expected.arch)), what, std::string(name_of(found.arch)));
  // The width is read off the stem's channels: two widths agree when they build the same stem (resnet.cpp
  // rounds 64 * width to the nearest integer, at least 1).
  const auto stem = [](double w) { return std::max<int64_t>(1, std::lround(64 * w)); };
  if (expected.width_multiplier && stem(*expected.width_multiplier) != stem(found.width_multiplier))
    contradicts("model.width_multiplier", *expected.width_multiplier, what, found.width_multiplier);
  const auto mode = found.head.mode;
  if (expected.head_mode && *expected.head_mode != mode)
    contradicts("model.head.mode", std::string(name_of(*expected.head_mode)), what,
                std::string(name_of(mode)));
  if (expected.head_num_layers && mode == models::HeadMode::kNonlinear &&
      *expected.head_num_layers != found.head.num_layers)
    contradicts("model.head.num_layers", *expected.head_num_layers, what, found.head.num_layers);
  if (expected.head_out_dim && mode != models::HeadMode::kNone &&
      *expected.head_out_dim != found.head.out_dim)
    contradicts("model.head.out_dim", *expected.head_out_dim, what, found.head.out_dim);
}

}  // namespace flatclr::eval
