#include "flatclr/core/flop_counter.h"

#include <ATen/record_function.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::core {
namespace {

std::mutex g_mutex;
std::map<std::string, double> g_counts;  // guarded by g_mutex
std::atomic<bool> g_active{false};
thread_local int t_depth = 0;  // counted operators entered on this thread (the outermost one counts)

std::vector<int64_t> sizes(const c10::IValue& v) {
  return v.isTensor() ? v.toTensor().sizes().vec() : std::vector<int64_t>{};
}

std::vector<int64_t> ints(const c10::IValue& v) {
  return v.isIntList() ? v.toIntVector() : std::vector<int64_t>{};
}

// 2 x multiply-adds of a convolution: input [N, C, H, W], weight [O, C/g, kh, kw], output [N, O, Ho, Wo].
double conv_flops(const std::vector<int64_t>& weight, const std::vector<int64_t>& output) {
  if (weight.size() < 3 || output.size() != weight.size()) return 0.0;
  double f =
      2.0 * static_cast<double>(output[0]) * static_cast<double>(weight[0]) * static_cast<double>(weight[1]);
  for (size_t d = 2; d < weight.size(); ++d) f *= static_cast<double>(weight[d] * output[d]);
  return f;
}

// The output sizes of a (non-transposed) convolution from its input, weight, stride, padding and dilation.
std::vector<int64_t> conv_output(const std::vector<int64_t>& in, const std::vector<int64_t>& w,
                                 const std::vector<int64_t>& stride, const std::vector<int64_t>& pad,
                                 const std::vector<int64_t>& dil) {
  std::vector<int64_t> out{in[0], w[0]};
  for (size_t d = 2; d < in.size(); ++d) {
    const size_t i = d - 2;
    const int64_t s = i < stride.size() ? stride[i] : 1, p = i < pad.size() ? pad[i] : 0,
                  l = i < dil.size() ? dil[i] : 1;
    out.push_back((in[d] + 2 * p - l * (w[d] - 1) - 1) / s + 1);
  }
  return out;
}

// Operations of one operator call, from its inputs; < 0 for an operator that is not counted.
double flops_of(const char* name, c10::ArrayRef<const c10::IValue> in) {
  if (std::strcmp(name, "aten::mm") == 0 && in.size() >= 2) {
    const auto a = sizes(in[0]), b = sizes(in[1]);
    return a.size() == 2 && b.size() == 2 ? 2.0 * a[0] * a[1] * b[1] : 0.0;
  }
  if ((std::strcmp(name, "aten::addmm") == 0 || std::strcmp(name, "aten::baddbmm") == 0) && in.size() >= 3) {
    const auto a = sizes(in[1]), b = sizes(in[2]);
    if (a.size() == 2 && b.size() == 2) return 2.0 * a[0] * a[1] * b[1];
    if (a.size() == 3 && b.size() == 3) return 2.0 * a[0] * a[1] * a[2] * b[2];
    return 0.0;
  }
  if (std::strcmp(name, "aten::bmm") == 0 && in.size() >= 2) {
    const auto a = sizes(in[0]), b = sizes(in[1]);
    return a.size() == 3 && b.size() == 3 ? 2.0 * a[0] * a[1] * a[2] * b[2] : 0.0;
  }
  if (std::strcmp(name, "aten::convolution") == 0 && in.size() >= 9) {
    // (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
    const auto x = sizes(in[0]), w = sizes(in[1]);
    if (x.size() < 3 || w.size() != x.size() || (in[6].isBool() && in[6].toBool())) return 0.0;
    return conv_flops(w, conv_output(x, w, ints(in[3]), ints(in[4]), ints(in[5])));
  }
  if (std::strcmp(name, "aten::convolution_backward") == 0 && in.size() >= 11) {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
    //  output_mask): the input gradient and the weight gradient each cost one forward.
    const auto gy = sizes(in[0]), w = sizes(in[2]);
    const double f = conv_flops(w, gy);
    const auto mask = in[10].isBoolList() ? in[10].toBoolList().vec() : std::vector<bool>{};
    const double n = (mask.size() > 0 && mask[0] ? 1.0 : 0.0) + (mask.size() > 1 && mask[1] ? 1.0 : 0.0);
    return f * n;
  }
  return -1.0;
}

struct Counted : at::ObserverContext {};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (!g_active.load()) return nullptr;
  const double f = flops_of(fn.name(), fn.inputs());
  if (f < 0) return nullptr;
  if (t_depth++ == 0 && f > 0) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_counts[fn.name()] += f;
  }
  return std::make_unique<Counted>();
}

void on_end(const at::RecordFunction&, at::ObserverContext* ctx) {
  if (ctx) --t_depth;
}

}  // namespace

FlopCounter::FlopCounter() {
  if (g_active.exchange(true)) throw InternalError("two FlopCounters at once");
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_counts.clear();
  }
  handle_ =
      at::addGlobalCallback(at::RecordFunctionCallback(on_start, on_end)
                                .needsInputs(true)
                                .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
}

FlopCounter::~FlopCounter() {
  at::removeCallback(handle_);
  g_active.store(false);
}

double FlopCounter::total() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  double t = 0;
  for (const auto& [name, f] : g_counts) t += f;
  return t;
}

std::map<std::string, double> FlopCounter::by_operator() const {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_counts;
}

}  // namespace flatclr::core
