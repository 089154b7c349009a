#include "flatclr/io/torch_save.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/torch.h>

#include <cstring>

#include "flatclr/core/error.h"

namespace flatclr::io {
namespace {

constexpr int kMaxDepth = 512;

// A copy of `v` with plain lists and dicts (element types Any) and detached CPU tensors.
c10::IValue untyped(const c10::IValue& v, int depth) {
  if (depth > kMaxDepth) fail("torch_save: the value is nested deeper than ", kMaxDepth, " levels");
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return c10::IValue();
    return t.detach().to(at::kCPU).contiguous();  // a channels-last weight is saved in the standard layout
  }
  if (v.isList()) {
    c10::impl::GenericList out(c10::AnyType::get());
    for (const c10::IValue& e : v.toListRef()) out.push_back(untyped(e, depth + 1));
    return out;
  }
  if (v.isGenericDict()) {
    c10::impl::GenericDict out(c10::AnyType::get(), c10::AnyType::get());
    for (const auto& e : v.toGenericDict())
      out.insert(untyped(e.key(), depth + 1), untyped(e.value(), depth + 1));
    return out;
  }
  if (v.isTuple()) {
    std::vector<c10::IValue> items;
    for (const c10::IValue& e : v.toTupleRef().elements()) items.push_back(untyped(e, depth + 1));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  if (v.isNone() || v.isInt() || v.isDouble() || v.isBool() || v.isString()) return v;
  fail("torch_save: cannot write a value of kind ", v.tagKind(),
       " (a weights-only torch.load accepts dicts, lists, tuples, str, int, float, bool, None and tensors)");
}

}  // namespace

std::vector<char> torch_save(const c10::IValue& value) {
  const c10::IValue plain = untyped(value, 0);
  std::vector<char> pickle;
  torch::jit::Pickler pickler(
      [&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); },
      /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr,
      /*get_tensor_id=*/nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(plain);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) -> size_t {
    const char* p = static_cast<const char*>(bytes);
    archive.insert(archive.end(), p, p + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

}  // namespace flatclr::io
