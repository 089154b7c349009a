// Precision choices and autocast (core/precision.h, core/autocast.h): the CPU's bf16 instructions and model
// name (checked against /proc/cpuinfo read by the shell, not by flatclr's parser), what `auto` resolves to
// without a measurement, the rule that decides it from measured step times, the refusals, and that an
// AutocastScope turns a float32 matmul into bf16 inside and leaves no trace outside, nested or not.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

#include "flatclr/core/autocast.h"
#include "flatclr/core/error.h"
#include "flatclr/core/precision.h"

using namespace flatclr::core;

namespace {

bool shell_says_cpu_has(const std::string& flag) {
  const std::string cmd = "grep -m1 '^flags' /proc/cpuinfo | grep -qw " + flag;
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST(Precision, CpuFlagsAgreeWithTheShell) {
  const auto f = cpu_bf16();
  EXPECT_EQ(f.avx512_bf16, shell_says_cpu_has("avx512_bf16"));
  EXPECT_EQ(f.amx_bf16, shell_says_cpu_has("amx_bf16"));
  EXPECT_EQ(f.avx_ne_convert, shell_says_cpu_has("avx_ne_convert"));
  EXPECT_EQ(f.native(), f.avx512_bf16 || f.amx_bf16 || f.avx_ne_convert || f.arm_bf16);
  CpuBf16 none;
  EXPECT_FALSE(none.native());
  none.avx_ne_convert = true;
  EXPECT_TRUE(none.native());
}

TEST(Precision, CpuModelNameAgreesWithTheShell) {
  FILE* p = ::popen("grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//'", "r");
  char buf[512] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  std::string expected(buf, n);
  while (!expected.empty() && (expected.back() == '\n' || expected.back() == ' ')) expected.pop_back();
  EXPECT_EQ(cpu_model_name(), expected.empty() ? "unknown CPU" : expected);
}

TEST(Precision, ResolvedWithoutMeasurement) {
  // On a CPU, auto without a measurement is fp32; the trainer measures first where bf16 may pay
  // (train/precision_probe.h).
  EXPECT_EQ(resolve_precision(Precision::kAuto, torch::kCPU), Precision::kFp32);
  EXPECT_EQ(resolve_precision(Precision::kFp32, torch::kCPU), Precision::kFp32);
  EXPECT_EQ(resolve_precision(Precision::kBf16, torch::kCPU), Precision::kBf16);
  try {
    resolve_precision(Precision::kFp16, torch::kCPU);
    FAIL() << "fp16 on a CPU was accepted";
  } catch (const flatclr::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("`precision`=fp16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(compute_dtype(Precision::kBf16), torch::kBFloat16);
  EXPECT_EQ(compute_dtype(Precision::kFp16), torch::kHalf);
  EXPECT_EQ(compute_dtype(Precision::kFp32), torch::kFloat);
  EXPECT_EQ(parse_choice<Precision>("bf16"), Precision::kBf16);
  EXPECT_FALSE(parse_choice<Precision>("float16").has_value());
}

TEST(Precision, MemoryFormatAutoIsChannelsLast) {
  // models::use_channels_last keeps the models oneDNN cannot train channels-last contiguous on a CPU
  // (tests/models/test_channels_last.cpp).
  EXPECT_EQ(resolve_memory_format(MemoryFormat::kAuto), MemoryFormat::kChannelsLast);
  EXPECT_EQ(resolve_memory_format(MemoryFormat::kContiguous), MemoryFormat::kContiguous);
  EXPECT_EQ(resolve_memory_format(MemoryFormat::kChannelsLast), MemoryFormat::kChannelsLast);
}

TEST(Precision, Bf16OnlyWhenMeasuredFasterByTheMargin) {
  EXPECT_EQ(kBf16MinSpeedup, 1.10);
  EXPECT_EQ(choose_by_step_times(0.253, 0.144), Precision::kBf16);  // 1.76x (measured on an AMD EPYC)
  EXPECT_EQ(choose_by_step_times(1.10, 1.0), Precision::kBf16);     // exactly the margin
  EXPECT_EQ(choose_by_step_times(1.0999, 1.0), Precision::kFp32);   // inside it
  EXPECT_EQ(choose_by_step_times(1.0, 1.0), Precision::kFp32);
  EXPECT_EQ(choose_by_step_times(0.9, 1.0), Precision::kFp32);  // bf16 slower (a Xeon without AMX)
  // Measurements that say nothing give fp32.
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  for (const auto& [a, b] :
       {std::pair{0.0, 1.0}, {1.0, 0.0}, {-1.0, -2.0}, {nan, 1.0}, {1.0, nan}, {inf, 1.0}, {1.0, inf}}) {
    EXPECT_EQ(choose_by_step_times(a, b), Precision::kFp32) << a << " " << b;
  }
}

TEST(Autocast, ScopeLowersMatmulsInsideAndRestoresOutside) {
  auto a = torch::randn({4, 4}), b = torch::randn({4, 4});
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  // The same product of the inputs rounded to bf16, accumulated in float32 (computed outside autocast).
  const auto rounded =
      torch::mm(a.to(torch::kBFloat16).to(torch::kFloat), b.to(torch::kBFloat16).to(torch::kFloat));
  {
    AutocastScope outer(torch::kCPU, Precision::kBf16);
    const auto c = torch::mm(a, b);
    EXPECT_EQ(c.scalar_type(), torch::kBFloat16);
    // Within one bf16 rounding of the result (2^-8 relative).
    EXPECT_TRUE(torch::allclose(c.to(torch::kFloat), rounded, 1e-2, 1e-2));
    {
      AutocastScope inner(torch::kCPU, Precision::kFp32);  // a no-op: autocast stays on
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    {
      AutocastScope inner(torch::kCPU, Precision::kFp16);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kHalf);
    }
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);  // the outer dtype is back
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  EXPECT_FALSE(at::autocast::is_autocast_enabled(torch::kCPU));
  {
    AutocastScope fp32(torch::kCPU, Precision::kFp32);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  }
}
