// Writing files that Python's torch.load reads with PyTorch >= 2.6's default, weights_only=True.
//
// torch::pickle_save writes the torch.save zip layout, but its pickler tags every typed dict and list with
// torch.jit._pickle.restore_type_tag / build_intlist / build_doublelist calls, which the weights-only
// unpickler refuses ("Unsupported class torch.jit._pickle.restore_type_tag"). torch_save writes the same
// layout with LibTorch's own pickler in its untagged mode (Pickler's tag_aggregates = false) and, before
// that, turns every typed list into a plain list, so that the pickle holds only what weights_only accepts:
// dicts, lists, tuples, str, int, float, bool, None and tensors (torch._utils._rebuild_tensor_v2 over
// torch.*Storage records, as Python's torch.save writes them). Tensors are written detached, from the CPU.
// Python sees a dict (not an OrderedDict); nn.Module.load_state_dict accepts either.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>
#include <vector>

namespace flatclr::io {

// The bytes of a torch.save zip archive holding `value`. Throws UserError for an IValue kind that
// weights_only cannot hold (objects, futures, ...), naming the kind.
std::vector<char> torch_save(const c10::IValue& value);

}  // namespace flatclr::io
