// libFuzzer target: the torch.save reader (io/torch_load.h), which reads checkpoints from anywhere (the
// paper's, Python's, a download). Any input must end in a value or in a UserError; a crash, a sanitizer
// report or any other exception (c10::Error included: torch_load turns only the zip reader's errors into
// UserError, see torch_load.cpp) is a finding. A value that loads must also survive a round trip: written
// again by io/torch_save.h (when it holds only what a weights-only torch.load accepts) and read back, it is
// the same value; a difference aborts with both values' paths.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "flatclr/core/error.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/io/torch_save.h"
#include "fuzz_input.h"

namespace {

bool same_double(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0 || a == b;
}

bool same_tensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  if (a.is_floating_point() || a.is_complex()) {
    // Bitwise through a view as bytes would tell -0.0 from 0.0, which equal() does not; NaN equals NaN here.
    const auto nan = at::isnan(a) & at::isnan(b);
    return ((a == b) | nan).all().item<bool>();
  }
  return at::equal(a, b);
}

// `where` names the first place that differs ("" when none).
std::string difference(const c10::IValue& a, const c10::IValue& b, const std::string& at) {
  // A tensor that was undefined is written as None.
  if (a.isTensor() && !a.toTensor().defined() && b.isNone()) return "";
  if (a.tagKind() != b.tagKind()) return at + ": " + a.tagKind() + " became " + b.tagKind();
  if (a.isTensor()) return same_tensor(a.toTensor(), b.toTensor()) ? "" : at + ": tensor";
  if (a.isDouble()) return same_double(a.toDouble(), b.toDouble()) ? "" : at + ": float";
  if (a.isInt()) return a.toInt() == b.toInt() ? "" : at + ": int";
  if (a.isBool()) return a.toBool() == b.toBool() ? "" : at + ": bool";
  if (a.isString()) return a.toStringRef() == b.toStringRef() ? "" : at + ": str";
  if (a.isNone()) return "";
  if (a.isList() || a.isTuple()) {
    const auto& x = a.isList() ? a.toListRef().vec() : a.toTupleRef().elements().vec();
    const auto& y = b.isList() ? b.toListRef().vec() : b.toTupleRef().elements().vec();
    if (x.size() != y.size()) return at + ": length";
    for (size_t i = 0; i < x.size(); ++i) {
      const auto d = difference(x[i], y[i], at + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.isGenericDict()) {
    const auto x = a.toGenericDict(), y = b.toGenericDict();
    if (x.size() != y.size()) return at + ": dict size";
    auto i = x.begin();
    auto j = y.begin();
    for (size_t n = 0; i != x.end(); ++i, ++j, ++n) {
      const std::string item = at + "{" + std::to_string(n) + "}";
      auto d = difference(i->key(), j->key(), item + " key");
      if (d.empty()) d = difference(i->value(), j->value(), item);
      if (!d.empty()) return d;
    }
    return "";
  }
  return at + ": a " + a.tagKind() + " that the comparison does not know";
}

void round_trip(const c10::IValue& loaded) {
  std::vector<char> bytes;
  try {
    bytes = flatclr::io::torch_save(loaded);
  } catch (const flatclr::UserError&) {
    return;  // a kind a weights-only torch.load refuses (torch.device, complex, deeper nesting): not written
  }
  const auto path = flatclr::fuzz::write_input("resaved.pth.tar",
                                               reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  const c10::IValue again = flatclr::io::torch_load(path);  // a UserError here is a finding too
  const std::string d = difference(loaded, again, "value");
  if (!d.empty()) {
    std::fprintf(stderr, "fuzz_torch_load: the value changed in a torch_save round trip at %s\n", d.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = flatclr::fuzz::write_input("input.pth.tar", data, size);
  c10::IValue loaded;
  bool ok = false;
  try {
    loaded = flatclr::io::torch_load(path);
    ok = true;
  } catch (const flatclr::UserError&) {
  }
  if (ok) {
    try {
      round_trip(loaded);
    } catch (const flatclr::UserError& e) {
      std::fprintf(stderr, "fuzz_torch_load: a re-saved value does not load: %s\n", e.what());
      std::abort();
    }
  }
  try {
    flatclr::io::load_encoder_state_dict(path);
  } catch (const flatclr::UserError&) {
  }
  return 0;
}
