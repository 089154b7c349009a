// Counts the floating-point operations of what LibTorch runs while a FlopCounter is alive, the way PyTorch's
// torch.utils.flop_counter.FlopCounterMode counts them: 2 per multiply-add of the matrix products (mm, addmm,
// bmm, baddbmm) and of the convolutions, forward (convolution) and backward (convolution_backward: one
// forward's worth for the input gradient and one for the weight gradient, each when it is asked for);
// element-wise work (BatchNorm, ReLU, the optimizer) is not counted, as PyTorch does not count it. A product
// that calls another (linear -> addmm) is counted once, at the outermost. The counting observes the
// dispatcher (LibTorch's RecordFunction callbacks, on every thread), so it sees the real operators of the
// real step, forward and backward, whatever the model; it slows them down, so count one step and time others.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace flatclr::core {

class FlopCounter {
 public:
  FlopCounter();  // starts counting; one FlopCounter at a time in a process (InternalError otherwise)
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;

  double total() const;                               // operations counted so far
  std::map<std::string, double> by_operator() const;  // "aten::convolution" -> operations

 private:
  uint64_t handle_ = 0;
};

}  // namespace flatclr::core
