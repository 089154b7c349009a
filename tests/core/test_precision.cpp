// Precision choices and autocast (core/precision.h, core/autocast.h): what `auto` resolves to on this CPU
// (checked against /proc/cpuinfo read by the shell, not by flatclr's parser), the refusals, and that an
// AutocastScope turns a float32 matmul into bf16 inside and leaves no trace outside, nested or not.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

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
}

TEST(Precision, AutoOnTheCpuIsBf16OnlyWithAmx) {
  const auto expected = shell_says_cpu_has("amx_bf16") ? Precision::kBf16 : Precision::kFp32;
  EXPECT_EQ(resolve_precision(Precision::kAuto, torch::kCPU), expected);
  EXPECT_EQ(resolve_precision(Precision::kFp32, torch::kCPU), Precision::kFp32);
  EXPECT_EQ(resolve_precision(Precision::kBf16, torch::kCPU), Precision::kBf16);
  try {
    resolve_precision(Precision::kFp16, torch::kCPU);
    FAIL() << "fp16 on a CPU was accepted";
  } catch (const flatclr::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("`precision`=fp16"), std::string::npos) << e.what();
  }
  EXPECT_EQ(resolve_memory_format(MemoryFormat::kAuto), MemoryFormat::kChannelsLast);
  EXPECT_EQ(resolve_memory_format(MemoryFormat::kContiguous), MemoryFormat::kContiguous);
  EXPECT_EQ(compute_dtype(Precision::kBf16), torch::kBFloat16);
  EXPECT_EQ(compute_dtype(Precision::kFp16), torch::kHalf);
  EXPECT_EQ(compute_dtype(Precision::kFp32), torch::kFloat);
  EXPECT_EQ(parse_choice<Precision>("bf16"), Precision::kBf16);
  EXPECT_FALSE(parse_choice<Precision>("float16").has_value());
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
