// Numeric precision of the training step's forward and backward (mixed precision), and the memory layout of
// its activations. Under bf16/fp16 the convolutions and matrix products of the encoder and head run in the
// lower type through LibTorch's autocast (core/autocast.h); parameters, optimizer state, BatchNorm statistics
// and everything from the projections on (similarities, log-sum-exps, the loss) stay in float32.
//
// `auto` is resolved per device:
//   - CUDA: bf16 where the GPU has bf16 tensor cores (compute capability 8.0 and later), else fp32
//     (resolve_precision);
//   - CPU: by measurement, because CPU flags cannot tell: with AVX512-BF16 and no AMX, bf16 measured 0.9x
//     float32 on a 2-core Xeon and 1.86x on a 2-core AMD EPYC (bench/bench_vs_pytorch). A CPU without native
//     bf16 instructions (CpuBf16::native) stays in fp32 unmeasured; on the others the trainer times its own
//     step in both (train/precision_probe.h) and choose_by_step_times() decides.
// fp16 needs loss scaling (optim/grad_scaler.h) and is refused on a CPU, which has no fp16 kernels worth it.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "flatclr/core/choice.h"

namespace flatclr::core {

enum class Precision { kAuto, kFp32, kBf16, kFp16 };
inline constexpr Choice<Precision> kPrecisions[] = {{Precision::kAuto, "auto"},
                                                    {Precision::kFp32, "fp32"},
                                                    {Precision::kBf16, "bf16"},
                                                    {Precision::kFp16, "fp16"}};
constexpr const auto& choices_of(Precision) { return kPrecisions; }

// Channels-last (NHWC) activations and convolution weights, or the default contiguous (NCHW) layout.
// `auto`: channels-last, what tensor cores want on a GPU and what measured faster on CPUs (ResNet-18 steps,
// bench/bench_vs_pytorch with both sides in the same layout: 1.00-1.06x on a Xeon, 1.08-1.23x at batch 32 on
// an AMD EPYC), except on a CPU for a model with a layer that oneDNN cannot train channels-last
// (models/channels_last.h decides that, per model).
enum class MemoryFormat { kAuto, kContiguous, kChannelsLast };
inline constexpr Choice<MemoryFormat> kMemoryFormats[] = {{MemoryFormat::kAuto, "auto"},
                                                          {MemoryFormat::kContiguous, "contiguous"},
                                                          {MemoryFormat::kChannelsLast, "channels_last"}};
constexpr const auto& choices_of(MemoryFormat) { return kMemoryFormats; }

// What this machine's CPU offers for bf16, from /proc/cpuinfo's flags (x86) or features (Arm).
struct CpuBf16 {
  bool avx512_bf16 = false;     // bf16 dot products (AVX512-BF16)
  bool amx_bf16 = false;        // AMX tiles for bf16 (Sapphire Rapids and later)
  bool avx_ne_convert = false;  // AVX-NE-CONVERT (bf16 loads and conversions without AVX-512)
  bool arm_bf16 = false;        // Armv8.6 BF16 (BFDOT, BFMMLA)
  // Any instruction that computes in bf16 natively. Without one, bf16 is emulated and never faster.
  bool native() const { return avx512_bf16 || amx_bf16 || avx_ne_convert || arm_bf16; }
};
CpuBf16 cpu_bf16();
// The CPU's model name ("AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum 8488C"), or "unknown CPU".
std::string cpu_model_name();

// `requested` on `device`, with auto resolved where no measurement is needed: on CUDA as above, on a CPU to
// fp32 (the trainer measures bf16 first where CpuBf16::native says it may pay: train/precision_probe.h).
// bf16 on a GPU without bf16 support, or fp16 on a CPU, is a UsageError naming the field `precision`.
Precision resolve_precision(Precision requested, const c10::Device& device);

// bf16 must be at least this much faster than fp32 (step time fp32 / bf16) before `auto` takes it on a CPU:
// repeated probes on one machine differ by a few percent, and a gain inside that noise is not worth bf16's
// coarser gradients.
inline constexpr double kBf16MinSpeedup = 1.10;
// The precision `auto` takes on a CPU from the measured step times (seconds, > 0) of the same step in fp32
// and bf16: bf16 when fp32_seconds / bf16_seconds >= kBf16MinSpeedup, else fp32. Non-positive or non-finite
// times say nothing, so they give fp32.
Precision choose_by_step_times(double fp32_seconds, double bf16_seconds);

// `requested`, with auto resolved to channels-last (models::use_channels_last keeps a model that oneDNN
// cannot train channels-last contiguous on a CPU).
MemoryFormat resolve_memory_format(MemoryFormat requested);

// The autocast type of a resolved lower precision (kBFloat16, kHalf); kFloat for fp32.
c10::ScalarType compute_dtype(Precision precision);

}  // namespace flatclr::core
