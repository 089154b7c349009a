// Channels-last (NHWC) memory layout for a model: every 4-D parameter and buffer (the convolution weights) is
// re-laid out in place, so that convolutions fed channels-last input stay channels-last end to end (oneDNN on
// a CPU and cuDNN's tensor-core kernels prefer it). Values, shapes and the parameters' identity are
// unchanged, so optimizers built before or after see the same tensors. Checkpoints are written in the
// standard layout (io/torch_save.h makes every tensor contiguous).
//
// oneDNN's NHWC backward-weights kernel for 1x1 convolutions with a stride (jit_avx512_common_1x1_convolution
// _bwd_weights_t) crashes (SIGSEGV or abort, LibTorch 2.11, AVX-512 CPUs) when the convolution has fewer
// input channels than its 16-channel block: measured for 2 to 15 input channels at stride 2 on 56x56 and
// 112x112 inputs, the downsampling shortcut of ResNet-18 x0.125's layer2 at 224 px among them; PyTorch eager
// crashes the same way. On other x86 machines the same case is reported to give wrong weight gradients or to
// hang. Such layers keep a model off channels-last on a CPU (nhwc_unsafe_on_cpu).
#pragma once

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "flatclr/core/precision.h"

namespace flatclr::models {

void to_channels_last(torch::nn::Module& module);

// oneDNN's NHWC kernels mishandle 1x1 strided convolutions with fewer input channels than this.
inline constexpr int64_t kOneDnnChannelBlock = 16;

// The convolutions of `module` that oneDNN's CPU kernels cannot train in channels-last (see above), each as
// "<name> (<in> input channels, 1x1 stride <s>)"; empty when channels-last is safe on a CPU.
std::vector<std::string> nhwc_unsafe_on_cpu(const torch::nn::Module& module);

// Whether `module` trains channels-last on `device` when `requested` (auto: channels-last): on a CPU not when
// the model has layers oneDNN cannot train in it, and then `note` (if given) says why in one line naming the
// field memory_format (the trainer prints it when channels-last was asked for, and records it either way).
bool use_channels_last(core::MemoryFormat requested, const c10::Device& device,
                       const torch::nn::Module& module, std::string* note = nullptr);

}  // namespace flatclr::models
