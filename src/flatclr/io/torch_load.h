// Reading files written by Python's torch.save (the zip format of PyTorch >= 1.6) without Python, for
// evaluating checkpoints of the FlatCLR paper's code (its torch.save of model, optimizer and scheduler state)
// and of other PyTorch trainers. LibTorch's torch::pickle_load cannot do it: it has no SETITEM/APPEND (Python
// pickles one-item dicts and lists with them) and no collections.OrderedDict (every nn.Module.state_dict()).
//
// The archive (`<name>/data.pkl` + one record `<name>/data/<key>` per storage) is read with LibTorch's
// caffe2::serialize::PyTorchStreamReader; data.pkl is read by a small unpickler of our own for what
// torch.save writes: pickle protocol 2 (torch.save's default) and the protocol 4 opcodes (FRAME, MEMOIZE,
// STACK_GLOBAL, SHORT_BINUNICODE, ...), see Python's Lib/pickletools.py. Python objects become IValues:
//   dict, collections.OrderedDict -> GenericDict (insertion order kept; keys str/int/float/bool),
//   list, set, frozenset -> GenericList;  tuple, torch.Size -> Tuple;  str -> String;  bytes -> String
//   (the raw bytes);  int (int64 range), float, bool, None, complex -> Int, Double, Bool, None,
//   ComplexDouble; torch.device -> Device;  tensors and nn.Parameters (torch._utils._rebuild_tensor_v2 /
//   _rebuild_parameter)
//   -> CPU tensors of their dtype (float32/64/16, bfloat16, int64/32/16/8, uint8, bool, complex64/128) with
//   their sizes, strides and storage offset, tensors of one storage sharing memory, requires_grad kept;
//   numpy bool/integer/float scalars (numpy.core.multiarray.scalar from numpy 1.x,
//   numpy._core.multiarray.scalar from numpy 2.x, e.g. the learning rates of a LambdaLR computed with np.cos)
//   -> Bool, Int, Double.
// Files that LibTorch's own pickler wrote (flatclr checkpoints before torch_save, with torch.jit._pickle type
// tags) are read too. Object attributes (BUILD on a dict, such as a state dict's `_metadata`) are dropped.
// Anything else (a class the reader does not know, e.g. argparse.Namespace or numpy arrays) is a UserError
// naming the class and the file. Every read is bounds-checked: a truncated or corrupt file is a UserError
// naming the file; structures nested deeper than kMaxNesting or referring to themselves are refused too. Any
// other exception out of torch_load means a missing check (a bug), not a bad file: it is not converted into a
// UserError, so that the fuzzer (fuzz/fuzz_torch_load.cpp) sees it.
#pragma once

#include <ATen/core/ivalue.h>

#include <cstdint>
#include <string>

#include "flatclr/io/state_dict.h"

namespace flatclr::io {

// Deepest nesting of lists/dicts/tuples accepted (a checkpoint needs about 5).
constexpr int64_t kMaxNesting = 512;

// The object torch.save wrote to `path`, with every tensor on the CPU. The pre-1.6 (non-zip) format is
// refused with a message saying how to re-save the file with a newer PyTorch.
c10::IValue torch_load(const std::string& path);

// The encoder weights of a pretraining checkpoint written by flatclr or by the paper's code: the dict under
// "model_state_dict" (both) or "state_dict", or the top-level dict when it holds only tensors. A leading
// "module." (nn.DataParallel) is stripped from every key. UserError naming the file and what was expected
// when there is no such dict.
StateDict load_encoder_state_dict(const std::string& path);

}  // namespace flatclr::io
