// Numeric precision of the training step's forward and backward (mixed precision), and the memory layout of
// its activations. Under bf16/fp16 the convolutions and matrix products of the encoder and head run in the
// lower type through LibTorch's autocast (core/autocast.h); parameters, optimizer state, BatchNorm statistics
// and everything from the projections on (similarities, log-sum-exps, the loss) stay in float32.
//
// `auto` is resolved per device by resolve_precision(), from what was measured (bench/bench_vs_pytorch):
//   - CUDA: bf16 where the GPU has bf16 tensor cores (compute capability 8.0 and later), else fp32;
//   - CPU: bf16 only where the CPU has AMX tiles (amx_bf16). With AVX512-BF16 alone, oneDNN's bf16
//     convolutions measured slower than float32 on a 2-core Xeon (the README's table), so fp32 stays.
// fp16 needs loss scaling (optim/grad_scaler.h) and is refused on a CPU, which has no fp16 kernels worth it.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "flatclr/core/choice.h"

namespace flatclr::core {

enum class Precision { kAuto, kFp32, kBf16, kFp16 };
inline constexpr Choice<Precision> kPrecisions[] = {{Precision::kAuto, "auto"},
                                                    {Precision::kFp32, "fp32"},
                                                    {Precision::kBf16, "bf16"},
                                                    {Precision::kFp16, "fp16"}};
constexpr const auto& choices_of(Precision) { return kPrecisions; }

// Channels-last (NHWC) activations and convolution weights, or the default contiguous (NCHW) layout.
// `auto`: channels-last, which measured faster for ResNet-18 on the CPU in float32 and is what tensor cores
// want on a GPU.
enum class MemoryFormat { kAuto, kContiguous, kChannelsLast };
inline constexpr Choice<MemoryFormat> kMemoryFormats[] = {{MemoryFormat::kAuto, "auto"},
                                                          {MemoryFormat::kContiguous, "contiguous"},
                                                          {MemoryFormat::kChannelsLast, "channels_last"}};
constexpr const auto& choices_of(MemoryFormat) { return kMemoryFormats; }

// What this machine's CPU offers for bf16, from /proc/cpuinfo's flags.
struct CpuBf16 {
  bool avx512_bf16 = false;  // bf16 dot products (AVX512-BF16)
  bool amx_bf16 = false;     // AMX tiles for bf16 (Sapphire Rapids and later)
};
CpuBf16 cpu_bf16();

// `requested` on `device`, with auto resolved as above. bf16 on a GPU without bf16 support, or fp16 on a CPU,
// is a UsageError naming the field `precision`.
Precision resolve_precision(Precision requested, const c10::Device& device);
// `requested`, with auto resolved to channels-last (on every device and precision measured so far).
MemoryFormat resolve_memory_format(MemoryFormat requested);

// The autocast type of a resolved lower precision (kBFloat16, kHalf); kFloat for fp32.
c10::ScalarType compute_dtype(Precision precision);

}  // namespace flatclr::core
