// One file on purpose: the unpickler below exists only for torch_load, and its pieces (opcodes, the few
// Python callables, storages, the final structure check) only make sense together.
#include "flatclr/io/torch_load.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::io {
namespace {

// The classes and functions a torch.save file may name (GLOBAL / STACK_GLOBAL).
enum class Callable {
  kOrderedDict,
  kSet,
  kFrozenSet,
  kComplex,
  kBytes,
  kCodecsEncode,
  kDevice,
  kSize,
  kRebuildTensorV2,
  kRebuildParameter,
  kRebuildParameterWithState,
  kRebuildFromTypeV2,
  kTensorType,
  kParameterType,
  kStorageType,
  kJitBuildList,  // LibTorch's pickler (torch::pickle_save) writes typed lists through these
  kJitRestoreTypeTag,
  kNumpyDtype,   // numpy.dtype('f8', False, True): the type of a numpy scalar
  kNumpyScalar,  // numpy.(_)core.multiarray.scalar(dtype, bytes): e.g. the float64 learning rates that a
                 // LambdaLR over np.cos leaves in optimizer and scheduler state dicts
};

struct Global {
  Callable what;
  at::ScalarType dtype = at::kByte;  // kStorageType: the element type
  std::string name;                  // "module.name", for messages
};

// An entry of the unpickler's stack or memo: a finished value, or what exists only while unpickling (a class
// or function, a storage, a tuple holding one of those).
struct Item {
  enum class Kind : uint8_t { kValue, kGlobal, kStorage, kTuple, kNumpyDtype };
  Kind kind = Kind::kValue;
  c10::IValue value;
  std::shared_ptr<const Global> global;
  int64_t storage = -1;              // kStorage: index into Unpickler::storages_
  int64_t numel = 0;                 // kStorage: number of elements
  at::ScalarType dtype = at::kByte;  // kStorage: element type
  std::shared_ptr<const std::vector<Item>> tuple;
  int depth = 0;           // kTuple: nesting of kTuple items
  std::string numpy_code;  // kNumpyDtype: the type code ("f8", "i4", "b1", ...)
  char byte_order = '=';   // kNumpyDtype: '<', '>', '|' or '=' (set by BUILD)
};

Item value_item(c10::IValue v) {
  Item item;
  item.value = std::move(v);
  return item;
}

constexpr int kMaxItemTupleDepth = 16;
constexpr size_t kMaxDims = 64;

std::shared_ptr<const Global> find_global(const std::string& module, const std::string& name) {
  static const std::map<std::pair<std::string, std::string>, Callable> kCallables = {
      {{"collections", "OrderedDict"}, Callable::kOrderedDict},
      {{"__builtin__", "set"}, Callable::kSet},
      {{"builtins", "set"}, Callable::kSet},
      {{"__builtin__", "frozenset"}, Callable::kFrozenSet},
      {{"builtins", "frozenset"}, Callable::kFrozenSet},
      {{"__builtin__", "complex"}, Callable::kComplex},
      {{"builtins", "complex"}, Callable::kComplex},
      {{"__builtin__", "bytes"}, Callable::kBytes},
      {{"builtins", "bytes"}, Callable::kBytes},
      {{"_codecs", "encode"}, Callable::kCodecsEncode},
      {{"torch", "device"}, Callable::kDevice},
      {{"torch", "Size"}, Callable::kSize},
      {{"torch._utils", "_rebuild_tensor_v2"}, Callable::kRebuildTensorV2},
      {{"torch._utils", "_rebuild_parameter"}, Callable::kRebuildParameter},
      {{"torch._utils", "_rebuild_parameter_with_state"}, Callable::kRebuildParameterWithState},
      {{"torch._tensor", "_rebuild_from_type_v2"}, Callable::kRebuildFromTypeV2},
      {{"torch", "Tensor"}, Callable::kTensorType},
      {{"torch._tensor", "Tensor"}, Callable::kTensorType},
      {{"torch.nn.parameter", "Parameter"}, Callable::kParameterType},
      {{"torch.jit._pickle", "build_intlist"}, Callable::kJitBuildList},
      {{"torch.jit._pickle", "build_doublelist"}, Callable::kJitBuildList},
      {{"torch.jit._pickle", "build_boollist"}, Callable::kJitBuildList},
      {{"torch.jit._pickle", "build_tensorlist"}, Callable::kJitBuildList},
      {{"torch.jit._pickle", "build_genericlist"}, Callable::kJitBuildList},
      {{"torch.jit._pickle", "restore_type_tag"}, Callable::kJitRestoreTypeTag},
      {{"numpy", "dtype"}, Callable::kNumpyDtype},
      {{"numpy.core.multiarray", "scalar"}, Callable::kNumpyScalar},   // numpy 1.x
      {{"numpy._core.multiarray", "scalar"}, Callable::kNumpyScalar},  // numpy 2.x
  };
  static const std::map<std::string, at::ScalarType> kStorages = {
      {"FloatStorage", at::kFloat},
      {"DoubleStorage", at::kDouble},
      {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16},
      {"LongStorage", at::kLong},
      {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort},
      {"CharStorage", at::kChar},
      {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool},
      {"ComplexFloatStorage", at::kComplexFloat},
      {"ComplexDoubleStorage", at::kComplexDouble},
      {"UntypedStorage", at::kByte},
  };
  Global g{Callable::kOrderedDict, at::kByte, module + "." + name};
  if (auto it = kCallables.find({module, name}); it != kCallables.end()) {
    g.what = it->second;
    return std::make_shared<const Global>(g);
  }
  if (module == "torch" || module == "torch.cuda") {
    if (auto it = kStorages.find(name); it != kStorages.end()) {
      g.what = Callable::kStorageType;
      g.dtype = it->second;
      return std::make_shared<const Global>(g);
    }
  }
  return nullptr;
}

bool is_container(const c10::IValue& v) { return v.isList() || v.isGenericDict() || v.isTuple(); }

std::vector<c10::IValue> children(const c10::IValue& v) {
  std::vector<c10::IValue> out;
  if (v.isList()) {
    for (const c10::IValue& e : v.toListRef()) out.push_back(e);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) out.push_back(e.value());
  } else if (v.isTuple()) {
    for (const c10::IValue& e : v.toTupleRef().elements()) out.push_back(e);
  }
  return out;
}

// Empties every container reachable from `work` (except those in `keep`) without recursion, so that freeing
// a structure that is very deep or refers to itself neither overflows the stack nor leaks.
void dismantle(std::vector<c10::IValue> work, const std::unordered_set<const void*>& keep) {
  while (!work.empty()) {
    c10::IValue v = std::move(work.back());
    work.pop_back();
    if (!is_container(v) || keep.count(v.internalToPointer())) continue;
    if (v.isList()) {
      auto list = v.toList();
      for (size_t i = 0; i < list.size(); ++i) work.push_back(list.get(i));
      list.clear();
    } else if (v.isGenericDict()) {
      auto dict = v.toGenericDict();
      for (const auto& e : dict) work.push_back(e.value());
      dict.clear();
    } else {
      auto tuple = v.toTuple();
      for (size_t i = 0; i < tuple->elements().size(); ++i) {
        work.push_back(tuple->elements()[i]);
        tuple->unsafeSetElement(i, c10::IValue());
      }
    }
  }
}

// "" when `root` is a finite structure nested at most kMaxNesting deep; else what is wrong. `seen` gets every
// container reachable from it. Iterative depth-first search with memoised heights.
std::string check_structure(const c10::IValue& root, std::unordered_set<const void*>& seen) {
  struct Frame {
    const void* ptr;
    std::vector<c10::IValue> children;
    size_t next = 0;
    int64_t height = 1;
  };
  std::unordered_map<const void*, int64_t> height;
  std::unordered_set<const void*> on_path;
  std::vector<Frame> path;
  auto enter = [&](const c10::IValue& v, int64_t& parent_height) -> std::string {
    if (!is_container(v)) return "";
    const void* ptr = v.internalToPointer();
    if (on_path.count(ptr)) return "a list, dict or tuple contains itself";
    if (auto it = height.find(ptr); it != height.end()) {
      parent_height = std::max(parent_height, it->second + 1);
      return "";
    }
    if (static_cast<int64_t>(path.size()) >= kMaxNesting) {
      return "lists/dicts/tuples are nested more than " + std::to_string(kMaxNesting) + " deep";
    }
    path.push_back(Frame{ptr, children(v)});
    on_path.insert(ptr);
    return "";
  };
  int64_t root_height = 0;
  if (auto problem = enter(root, root_height); !problem.empty()) return problem;
  while (!path.empty()) {
    Frame& f = path.back();
    if (f.next < f.children.size()) {
      const c10::IValue child = f.children[f.next++];
      if (auto problem = enter(child, f.height); !problem.empty()) return problem;
      continue;
    }
    const int64_t h = f.height;
    const void* ptr = f.ptr;
    height[ptr] = h;
    on_path.erase(ptr);
    seen.insert(ptr);
    path.pop_back();
    if (h > kMaxNesting) {
      return "lists/dicts/tuples are nested more than " + std::to_string(kMaxNesting) + " deep";
    }
    if (!path.empty()) path.back().height = std::max(path.back().height, h + 1);
  }
  return "";
}

class Unpickler {
 public:
  using StorageLoader = std::function<c10::Storage(const std::string& key)>;

  Unpickler(const std::string& data, std::string what, StorageLoader loader)
      : data_(reinterpret_cast<const uint8_t*>(data.data())),
        size_(data.size()),
        what_(std::move(what)),
        loader_(std::move(loader)) {}

  c10::IValue run() {
    c10::IValue result;
    try {
      result = execute();
    } catch (...) {
      release({});
      throw;
    }
    std::unordered_set<const void*> keep;
    const std::string problem = check_structure(result, keep);
    if (!problem.empty()) {
      keep.clear();
      stack_.push_back(value_item(std::move(result)));
      release(keep);
      fail(what_, ": refusing to read data.pkl: ", problem);
    }
    release(keep);
    return result;
  }

 private:
  // ---- reading bytes ----
  template <typename... Parts>
  [[noreturn]] void corrupt(const Parts&... parts) const {
    fail(what_, ": corrupt or unsupported torch.save file (data.pkl byte ", op_pos_, ": ", parts...,
         "); re-save it with torch.save or check that the download is complete");
  }
  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_)
      corrupt("needs ", n, " more bytes but the pickle ends after ", size_ - pos_, ": truncated");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t le(int bytes) {
    const uint8_t* p = take(bytes);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  std::string bytes(uint64_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  std::string line() {
    const size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    if (pos_ >= size_) corrupt("a GLOBAL name runs past the end of the pickle");
    return std::string(reinterpret_cast<const char*>(data_ + start), pos_++ - start);
  }
  // Little-endian two's complement of n bytes (LONG1/LONG4), which must fit in int64.
  int64_t long_int(uint64_t n) {
    const uint8_t* p = take(n);
    if (n == 0) return 0;
    const uint8_t fill = (p[n - 1] & 0x80) ? 0xff : 0x00;
    for (uint64_t i = 8; i < n; ++i) {
      if (p[i] != fill) corrupt("an integer of ", n, " bytes does not fit in int64");
    }
    if (n > 8 && ((p[7] & 0x80) ? 0xff : 0x00) != fill)
      corrupt("an integer of ", n, " bytes does not fit in int64");
    uint64_t v = 0;
    for (uint64_t i = 0; i < 8; ++i) v |= static_cast<uint64_t>(i < n ? p[i] : fill) << (8 * i);
    int64_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }

  // ---- the stack ----
  void push_value(c10::IValue v) { stack_.push_back(value_item(std::move(v))); }
  Item pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) corrupt("stack underflow");
    Item item = std::move(stack_.back());
    stack_.pop_back();
    return item;
  }
  Item& top() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) corrupt("stack underflow");
    return stack_.back();
  }
  std::vector<Item> pop_mark() {
    if (marks_.empty()) corrupt("MARK missing");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Item> items(std::make_move_iterator(stack_.begin() + mark),
                            std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }
  c10::IValue value(Item item, const char* role) {
    switch (item.kind) {
      case Item::Kind::kValue:
        return std::move(item.value);
      case Item::Kind::kGlobal:
        corrupt("the class/function ", item.global->name, " is used as ", role);
      case Item::Kind::kStorage:
        corrupt("a storage is used as ", role, " (tensors are rebuilt with torch._utils._rebuild_tensor_v2)");
      case Item::Kind::kNumpyDtype:
        corrupt("a numpy dtype is used as ", role,
                " (it is only the first argument of numpy.core.multiarray.scalar)");
      case Item::Kind::kTuple:
        break;
    }
    corrupt("a tuple holding a class or storage is used as ", role);
  }
  Item make_tuple(std::vector<Item> items) {
    bool all_values = true;
    int depth = 0;
    for (const Item& i : items) {
      all_values = all_values && i.kind == Item::Kind::kValue;
      if (i.kind == Item::Kind::kTuple) depth = std::max(depth, i.depth);
    }
    if (all_values) {
      std::vector<c10::IValue> values;
      values.reserve(items.size());
      for (Item& i : items) values.push_back(std::move(i.value));
      return value_item(c10::ivalue::Tuple::create(std::move(values)));
    }
    if (depth + 1 > kMaxItemTupleDepth) corrupt("argument tuples nested too deep");
    Item t;
    t.kind = Item::Kind::kTuple;
    t.tuple = std::make_shared<const std::vector<Item>>(std::move(items));
    t.depth = depth + 1;
    return t;
  }
  std::vector<Item> tuple_items(const Item& item, const char* role) {
    if (item.kind == Item::Kind::kTuple) return *item.tuple;
    if (item.kind == Item::Kind::kValue && item.value.isTuple()) {
      std::vector<Item> out;
      for (const c10::IValue& v : item.value.toTupleRef().elements()) out.push_back(value_item(v));
      return out;
    }
    corrupt("expected a tuple as ", role);
  }
  c10::impl::GenericDict dict_at_top() {
    Item& t = top();
    if (t.kind != Item::Kind::kValue || !t.value.isGenericDict())
      corrupt("SETITEM(S) on something not a dict");
    return t.value.toGenericDict();
  }
  c10::impl::GenericList list_at_top(const char* op) {
    Item& t = top();
    if (t.kind != Item::Kind::kValue || !t.value.isList()) corrupt(op, " on something not a list or set");
    return t.value.toList();
  }
  void set_item(c10::impl::GenericDict& dict, Item key, Item val) {
    c10::IValue k = value(std::move(key), "a dict key");
    if (!k.isString() && !k.isInt() && !k.isDouble() && !k.isBool()) {
      fail(what_, ": a dict has a key of type ", k.tagKind(),
           "; flatclr reads dicts with str, int, float or bool keys only");
    }
    dict.insert_or_assign(std::move(k), value(std::move(val), "a dict value"));
  }

  // ---- values ----
  int64_t int_of(const Item& item, const char* role) {
    if (item.kind != Item::Kind::kValue || !item.value.isInt()) corrupt("expected an int as ", role);
    return item.value.toInt();
  }
  std::vector<int64_t> ints_of(const Item& item, const char* role) {
    if (item.kind != Item::Kind::kValue || !(item.value.isTuple() || item.value.isList())) {
      corrupt("expected a tuple of ints as ", role);
    }
    std::vector<int64_t> out;
    const auto add = [&](const c10::IValue& v) {
      if (!v.isInt()) corrupt("expected ints in ", role);
      out.push_back(v.toInt());
    };
    if (item.value.isTuple()) {
      for (const c10::IValue& v : item.value.toTupleRef().elements()) add(v);
    } else {
      for (const c10::IValue& v : item.value.toListRef()) add(v);
    }
    return out;
  }
  bool bool_of(const Item& item, const char* role) {
    if (item.kind != Item::Kind::kValue || !item.value.isBool()) corrupt("expected a bool as ", role);
    return item.value.toBool();
  }
  const std::string& str_of(const Item& item, const char* role) {
    if (item.kind != Item::Kind::kValue || !item.value.isString()) corrupt("expected a str as ", role);
    return item.value.toStringRef();
  }
  double number_of(const Item& item, const char* role) {
    if (item.kind == Item::Kind::kValue && item.value.isDouble()) return item.value.toDouble();
    return static_cast<double>(int_of(item, role));
  }

  // ---- storages and tensors ----
  Item persistent_load(const Item& pid) {
    const std::vector<Item> f = tuple_items(pid, "a persistent id");
    if (f.size() != 5 || f[0].kind != Item::Kind::kValue || !f[0].value.isString() ||
        f[0].value.toStringRef() != "storage") {
      corrupt("expected a persistent id ('storage', storage type, key, location, numel)");
    }
    if (f[1].kind != Item::Kind::kGlobal || f[1].global->what != Callable::kStorageType) {
      corrupt("the persistent id does not name a storage type (torch.FloatStorage, ...)");
    }
    const std::string& key = str_of(f[2], "the storage key");
    const int64_t numel = int_of(f[4], "the storage size");
    const at::ScalarType dtype = f[1].global->dtype;
    int64_t index;
    if (auto it = storage_index_.find(key); it != storage_index_.end()) {
      index = it->second;
    } else {
      index = static_cast<int64_t>(storages_.size());
      storages_.push_back(loader_(key));
      storage_index_.emplace(key, index);
    }
    const auto elem = static_cast<int64_t>(c10::elementSize(dtype));
    const auto nbytes = static_cast<int64_t>(storages_[index].nbytes());
    if (numel < 0 || numel > nbytes / elem) {
      corrupt("storage ", key, " should hold ", numel, " elements of ", c10::toString(dtype),
              " but its record has ", nbytes, " bytes");
    }
    Item s;
    s.kind = Item::Kind::kStorage;
    s.storage = index;
    s.dtype = dtype;
    s.numel = numel;
    return s;
  }

  at::Tensor make_tensor(const Item& storage, int64_t offset, const std::vector<int64_t>& sizes,
                         const std::vector<int64_t>& strides, bool requires_grad) {
    if (storage.kind != Item::Kind::kStorage) corrupt("_rebuild_tensor_v2 expects a storage first");
    const int64_t numel = storage.numel;
    if (sizes.size() != strides.size() || sizes.size() > kMaxDims) {
      corrupt("a tensor has ", sizes.size(), " sizes and ", strides.size(), " strides");
    }
    if (offset < 0 || offset > numel)
      corrupt("a tensor's storage offset ", offset, " is outside its storage");
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    int64_t count = 1;
    int64_t last = offset;  // index of the last element
    bool empty = false;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] < 0 || strides[d] < 0) corrupt("a tensor has a negative size or stride");
      if (sizes[d] == 0) empty = true;
      if (sizes[d] != 0 && count > kMax / sizes[d]) corrupt("a tensor has more than 2^63 elements");
      count *= sizes[d];
    }
    if (!empty) {
      for (size_t d = 0; d < sizes.size(); ++d) {
        const int64_t span = sizes[d] - 1;
        if (span > 0 && strides[d] > (numel - last) / span) {
          corrupt("a tensor's sizes and strides reach outside its storage of ", numel, " elements");
        }
        last += span * strides[d];
      }
      if (last >= numel)
        corrupt("a tensor's sizes and strides reach outside its storage of ", numel, " elements");
    }
    at::Tensor t = at::empty({0}, at::TensorOptions().dtype(storage.dtype));
    t.set_(storages_[storage.storage], offset, sizes, strides);
    if (requires_grad && (at::isFloatingType(storage.dtype) || at::isComplexType(storage.dtype))) {
      t.set_requires_grad(true);
    }
    return t;
  }

  // ---- calling a class or function (REDUCE, NEWOBJ) ----
  Item call(const Item& callable, const std::vector<Item>& args) {
    if (callable.kind != Item::Kind::kGlobal)
      corrupt("REDUCE/NEWOBJ on something that is not a class or function");
    const Global& g = *callable.global;
    const size_t n = args.size();
    auto expect = [&](bool ok) {
      if (!ok) corrupt(g.name, " called with ", n, " argument(s) of unexpected types");
    };
    switch (g.what) {
      case Callable::kOrderedDict:
        expect(n == 0);
        return value_item(c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()));
      case Callable::kSet:
      case Callable::kFrozenSet: {
        c10::impl::GenericList list(c10::AnyType::get());
        expect(n <= 1);
        if (n == 1) {
          expect(args[0].kind == Item::Kind::kValue && (args[0].value.isList() || args[0].value.isTuple()));
          if (args[0].value.isList()) {
            for (const c10::IValue& v : args[0].value.toListRef()) list.push_back(v);
          } else {
            for (const c10::IValue& v : args[0].value.toTupleRef().elements()) list.push_back(v);
          }
        }
        return value_item(list);
      }
      case Callable::kComplex:
        expect(n == 1 || n == 2);
        return value_item(
            c10::IValue(c10::complex<double>(number_of(args[0], "complex's real part"),
                                             n == 2 ? number_of(args[1], "complex's imaginary part") : 0.0)));
      case Callable::kBytes:
        expect(n == 0);
        return value_item(c10::IValue(std::string()));
      case Callable::kCodecsEncode: {
        // Python 3 pickles bytes at protocol 2 as _codecs.encode(<str of the bytes' code points>, 'latin1').
        expect(n == 2);
        const std::string& enc = str_of(args[1], "the encoding");
        if (enc != "latin1" && enc != "latin-1") corrupt("_codecs.encode with encoding ", enc);
        return value_item(c10::IValue(utf8_to_latin1(str_of(args[0], "the bytes"))));
      }
      case Callable::kDevice: {
        expect(n == 1 || n == 2);
        const std::string& type = str_of(args[0], "the device type");
        try {
          c10::Device device(type);
          if (n == 2) {
            const int64_t index = int_of(args[1], "the device index");
            if (index < -1 || index > std::numeric_limits<c10::DeviceIndex>::max())
              corrupt("device index ", index);
            device = c10::Device(device.type(), static_cast<c10::DeviceIndex>(index));
          }
          return value_item(c10::IValue(device));
        } catch (const c10::Error&) {
          fail(what_, ": unknown torch.device '", type, "'");
        }
      }
      case Callable::kSize:
        expect(n == 1);
        ints_of(args[0], "torch.Size");
        return value_item(args[0].value.isTuple() ? args[0].value
                                                  : c10::ivalue::Tuple::create(children(args[0].value)));
      case Callable::kRebuildTensorV2: {
        expect(n == 6 || n == 7);
        at::Tensor t =
            make_tensor(args[0], int_of(args[1], "the storage offset"), ints_of(args[2], "the sizes"),
                        ints_of(args[3], "the strides"), bool_of(args[4], "requires_grad"));
        return value_item(t);
      }
      case Callable::kRebuildParameter:
      case Callable::kRebuildParameterWithState: {
        expect(n == (g.what == Callable::kRebuildParameter ? 3u : 4u));
        expect(args[0].kind == Item::Kind::kValue && args[0].value.isTensor());
        at::Tensor t = args[0].value.toTensor();
        if (bool_of(args[1], "requires_grad") && (t.is_floating_point() || t.is_complex()))
          t.set_requires_grad(true);
        return value_item(t);
      }
      case Callable::kRebuildFromTypeV2: {
        // torch 2.x: _rebuild_from_type_v2(func, type, args, state) for tensors that carry Python attributes.
        expect(n == 4 && args[1].kind == Item::Kind::kGlobal);
        const Callable type = args[1].global->what;
        if (type != Callable::kTensorType && type != Callable::kParameterType) {
          fail(what_, ": cannot read tensors of the subclass ", args[1].global->name, "; save plain tensors");
        }
        return call(args[0], tuple_items(args[2], "the tensor's arguments"));
      }
      case Callable::kJitBuildList:
        expect(n == 1 && args[0].kind == Item::Kind::kValue && args[0].value.isList());
        return args[0];
      case Callable::kJitRestoreTypeTag:
        expect(n == 2 && args[0].kind == Item::Kind::kValue);
        return args[0];
      case Callable::kNumpyDtype: {
        expect(n == 3);
        Item dtype;
        dtype.kind = Item::Kind::kNumpyDtype;
        dtype.numpy_code = str_of(args[0], "numpy.dtype's type code");
        return dtype;
      }
      case Callable::kNumpyScalar:
        expect(n == 2 && args[0].kind == Item::Kind::kNumpyDtype);
        return value_item(numpy_scalar(args[0], str_of(args[1], "a numpy scalar's bytes")));
      case Callable::kTensorType:
      case Callable::kParameterType:
      case Callable::kStorageType:
        break;
    }
    corrupt(g.name, " cannot be called");
  }

  // A numpy scalar of a bool, integer or floating type as the IValue of the Python number it stands for.
  c10::IValue numpy_scalar(const Item& dtype, const std::string& bytes) {
    const std::string& code = dtype.numpy_code;
    const auto bad = [&]() -> c10::IValue {
      fail(what_, ": cannot read a numpy scalar of type '", code, "' (", bytes.size(),
           " bytes): flatclr reads numpy bools, integers and floats");
    };
    if (code.size() < 2) return bad();
    const char kind = code[0];
    const std::string width_text = code.substr(1);
    if (width_text.find_first_not_of("0123456789") != std::string::npos) return bad();
    const size_t width = std::stoul(width_text);
    if (width != bytes.size() || !(width == 1 || width == 2 || width == 4 || width == 8)) return bad();
    // numpy scalars are pickled in the writing machine's order: '<' on every machine PyTorch runs on.
    if (dtype.byte_order == '>')
      fail(what_, ": a big-endian numpy scalar (type '>", code, "'); flatclr reads little-endian files");
    uint64_t raw = 0;
    for (size_t i = 0; i < width; ++i)
      raw |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    switch (kind) {
      case 'b':
        if (width != 1) return bad();
        return c10::IValue(raw != 0);
      case 'i': {
        const unsigned shift = static_cast<unsigned>(64 - 8 * width);
        return c10::IValue(static_cast<int64_t>(raw << shift) >> shift);  // sign-extend
      }
      case 'u':
        if (raw > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          fail(what_, ": a numpy uint64 scalar ", raw, " does not fit an int64");
        return c10::IValue(static_cast<int64_t>(raw));
      case 'f':
        if (width == 8) {
          double d;
          std::memcpy(&d, &raw, 8);
          return c10::IValue(d);
        }
        if (width == 4) {
          float f;
          const auto r32 = static_cast<uint32_t>(raw);
          std::memcpy(&f, &r32, 4);
          return c10::IValue(static_cast<double>(f));
        }
        if (width == 2)
          return c10::IValue(
              static_cast<double>(c10::Half(static_cast<uint16_t>(raw), c10::Half::from_bits())));
        return bad();
      default:
        return bad();
    }
  }

  std::string utf8_to_latin1(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      const auto c = static_cast<uint8_t>(s[i]);
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
      } else if ((c & 0xe0) == 0xc0 && c <= 0xc3 && i + 1 < s.size()) {
        out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(s[++i]) & 0x3f)));
      } else {
        corrupt("_codecs.encode of a string with characters beyond latin-1");
      }
    }
    return out;
  }

  // ---- the opcode loop ----
  c10::IValue execute() {
    while (true) {
      op_pos_ = pos_;
      const uint8_t op = *take(1);
      switch (op) {
        case 0x80: {  // PROTO
          const uint8_t version = *take(1);
          if (version > 5) corrupt("pickle protocol ", static_cast<int>(version), " (flatclr reads up to 5)");
          break;
        }
        case 0x95:  // FRAME: a length hint only
          take(8);
          break;
        case '.': {  // STOP
          Item result = pop();
          return value(std::move(result), "the file's top-level object");
        }
        case '}':  // EMPTY_DICT
          push_value(c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()));
          break;
        case ']':   // EMPTY_LIST
        case 0x8f:  // EMPTY_SET
          push_value(c10::impl::GenericList(c10::AnyType::get()));
          break;
        case ')':  // EMPTY_TUPLE
          push_value(c10::ivalue::Tuple::create(std::vector<c10::IValue>{}));
          break;
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case 't':  // TUPLE
          stack_.push_back(make_tuple(pop_mark()));
          break;
        case 0x85:    // TUPLE1
        case 0x86:    // TUPLE2
        case 0x87: {  // TUPLE3
          std::vector<Item> items(op - 0x84);
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          stack_.push_back(make_tuple(std::move(items)));
          break;
        }
        case 'd': {  // DICT
          std::vector<Item> items = pop_mark();
          if (items.size() % 2) corrupt("DICT with an odd number of items");
          c10::impl::GenericDict dict(c10::AnyType::get(), c10::AnyType::get());
          for (size_t i = 0; i < items.size(); i += 2)
            set_item(dict, std::move(items[i]), std::move(items[i + 1]));
          push_value(dict);
          break;
        }
        case 'l':     // LIST
        case 0x91: {  // FROZENSET
          c10::impl::GenericList list(c10::AnyType::get());
          for (Item& i : pop_mark()) list.push_back(value(std::move(i), "a list element"));
          push_value(list);
          break;
        }
        case 's': {  // SETITEM
          Item val = pop();
          Item key = pop();
          auto dict = dict_at_top();
          set_item(dict, std::move(key), std::move(val));
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Item> items = pop_mark();
          if (items.size() % 2) corrupt("SETITEMS with an odd number of items");
          auto dict = dict_at_top();
          for (size_t i = 0; i < items.size(); i += 2)
            set_item(dict, std::move(items[i]), std::move(items[i + 1]));
          break;
        }
        case 'a': {  // APPEND
          Item v = pop();
          list_at_top("APPEND").push_back(value(std::move(v), "a list element"));
          break;
        }
        case 'e':     // APPENDS
        case 0x90: {  // ADDITEMS
          std::vector<Item> items = pop_mark();
          auto list = list_at_top(op == 'e' ? "APPENDS" : "ADDITEMS");
          for (Item& i : items) list.push_back(value(std::move(i), "a list element"));
          break;
        }
        case 'X':  // BINUNICODE
          push_value(bytes(le(4)));
          break;
        case 0x8c:  // SHORT_BINUNICODE
        case 'U':   // SHORT_BINSTRING
        case 'C':   // SHORT_BINBYTES
          push_value(bytes(le(1)));
          break;
        case 0x8d:  // BINUNICODE8
        case 0x8e:  // BINBYTES8
          push_value(bytes(le(8)));
          break;
        case 'B':  // BINBYTES
          push_value(bytes(le(4)));
          break;
        case 'T': {  // BINSTRING
          const auto n = static_cast<int32_t>(le(4));
          if (n < 0) corrupt("BINSTRING with a negative length");
          push_value(bytes(static_cast<uint64_t>(n)));
          break;
        }
        case 'J':  // BININT
          push_value(static_cast<int64_t>(static_cast<int32_t>(le(4))));
          break;
        case 'K':  // BININT1
          push_value(static_cast<int64_t>(le(1)));
          break;
        case 'M':  // BININT2
          push_value(static_cast<int64_t>(le(2)));
          break;
        case 0x8a:  // LONG1
          push_value(long_int(le(1)));
          break;
        case 0x8b: {  // LONG4
          const auto n = static_cast<int32_t>(le(4));
          if (n < 0) corrupt("LONG4 with a negative length");
          push_value(long_int(static_cast<uint64_t>(n)));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const uint8_t* p = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
          double d;
          std::memcpy(&d, &bits, sizeof d);
          push_value(d);
          break;
        }
        case 0x88:  // NEWTRUE
          push_value(true);
          break;
        case 0x89:  // NEWFALSE
          push_value(false);
          break;
        case 'N':  // NONE
          push_value(c10::IValue());
          break;
        case 'c': {  // GLOBAL
          std::string module = line();
          std::string name = line();
          push_global(module, name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Item name = pop();
          Item module = pop();
          push_global(str_of(module, "a module name"), str_of(name, "a class name"));
          break;
        }
        case 'R':     // REDUCE
        case 0x81: {  // NEWOBJ
          Item args = pop();
          Item callable = pop();
          stack_.push_back(call(callable, tuple_items(args, "the arguments")));
          break;
        }
        case 'b': {  // BUILD: object attributes (e.g. a state dict's _metadata), dropped
          Item state = pop();
          Item& obj = top();
          if (obj.kind == Item::Kind::kNumpyDtype) {
            // numpy.dtype's state: (version, byte order, subarray, names, fields, elsize, alignment, flags).
            const std::vector<Item> f = tuple_items(state, "numpy.dtype's state");
            if (f.size() < 2) corrupt("numpy.dtype's state has ", f.size(), " fields");
            const std::string& order = str_of(f[1], "numpy.dtype's byte order");
            if (order.size() != 1 || std::string("<>|=").find(order[0]) == std::string::npos)
              corrupt("numpy.dtype byte order '", order, "'");
            obj.byte_order = order[0];
            break;
          }
          const bool state_ok =
              state.kind == Item::Kind::kValue &&
              (state.value.isNone() || state.value.isGenericDict() || state.value.isTuple());
          const bool obj_ok =
              obj.kind == Item::Kind::kValue && (obj.value.isGenericDict() || obj.value.isTensor());
          if (!state_ok || !obj_ok) corrupt("BUILD on an object flatclr does not read");
          break;
        }
        case 'Q': {  // BINPERSID
          Item pid = pop();
          stack_.push_back(persistent_load(pid));
          break;
        }
        case 'q':  // BINPUT
          memo_[le(1)] = top();
          break;
        case 'r':  // LONG_BINPUT
          memo_[le(4)] = top();
          break;
        case 0x94:  // MEMOIZE
          memo_[memo_.size()] = top();
          break;
        case 'h':  // BINGET
          get(le(1));
          break;
        case 'j':  // LONG_BINGET
          get(le(4));
          break;
        case '0':  // POP
          pop();
          break;
        case '1':  // POP_MARK
          pop_mark();
          break;
        case '2': {  // DUP
          Item copy = top();
          stack_.push_back(std::move(copy));
          break;
        }
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(op));
          corrupt("unsupported pickle opcode ", hex,
                  " (flatclr reads what torch.save writes with pickle protocols 2 to 4)");
        }
      }
    }
  }

  void push_global(const std::string& module, const std::string& name) {
    auto g = find_global(module, name);
    if (!g) {
      fail(what_, ": cannot read objects of class/function ", module, ".", name,
           ": flatclr reads tensors, dicts (also OrderedDict), lists, tuples, sets, str, bytes, numbers, "
           "None, "
           "torch.device and torch.Size; save the checkpoint without it (e.g. vars(args) instead of args, "
           "tensors instead of numpy arrays)");
    }
    Item item;
    item.kind = Item::Kind::kGlobal;
    item.global = std::move(g);
    stack_.push_back(std::move(item));
  }

  void get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) corrupt("memo entry ", index, " is read before it is written");
    stack_.push_back(it->second);
  }

  // Frees the stack and memo without deep recursion (see dismantle); containers in `keep` are left intact.
  void release(const std::unordered_set<const void*>& keep) {
    std::vector<c10::IValue> values;
    std::function<void(const Item&)> gather = [&](const Item& i) {
      if (i.kind == Item::Kind::kValue) values.push_back(i.value);
      if (i.kind == Item::Kind::kTuple) {
        for (const Item& e : *i.tuple) gather(e);  // depth <= kMaxItemTupleDepth
      }
    };
    for (const Item& i : stack_) gather(i);
    for (const auto& e : memo_) gather(e.second);
    stack_.clear();
    memo_.clear();
    dismantle(std::move(values), keep);
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::string what_;
  StorageLoader loader_;
  std::vector<Item> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Item> memo_;
  std::vector<c10::Storage> storages_;
  std::unordered_map<std::string, int64_t> storage_index_;
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

void check_file_kind(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(path, " does not exist or is not a file");
  std::ifstream in(path, std::ios::binary);
  char head[512] = {};
  in.read(head, sizeof head);
  const auto n = static_cast<size_t>(in.gcount());
  if (n >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return;
  const bool legacy_pickle =
      n >= 2 && static_cast<uint8_t>(head[0]) == 0x80 && static_cast<uint8_t>(head[1]) <= 5;
  const bool legacy_tar = n >= 262 && std::memcmp(head + 257, "ustar", 5) == 0;
  if (legacy_pickle || legacy_tar) {
    fail(path,
         ": written in torch.save's legacy format (PyTorch < 1.6 or _use_new_zipfile_serialization=False), "
         "which flatclr does not read; re-save it with PyTorch >= 1.6: python -c \"import torch; "
         "torch.save(torch.load('OLD', map_location='cpu'), 'NEW')\"");
  }
  fail(path, ": not a torch.save file (expected a zip archive, found ", n, n == 512 ? "+" : "",
       " bytes without a zip header); is it truncated or of another kind?");
}

// What counts as bad input, and what as a bug. LibTorch's zip reader (PyTorchStreamReader) raises c10::Error
// for an archive it cannot read (no central directory, a CRC mismatch, a truncated record) and std::bad_alloc
// for a record that claims more memory than there is: those describe the file, so they become a UserError
// naming it. The unpickler checks every opcode, value and tensor it builds and raises UserError itself for
// anything wrong with the file; an exception of another kind escaping it (c10::Error from an IValue or tensor
// call, std::out_of_range, ...) means a check is missing, so it is not converted: it reaches the caller as
// what it is, and the fuzzer (fuzz/fuzz_torch_load.cpp) reports it as a finding.
template <typename F>
auto from_archive(const std::string& path, F read) -> decltype(read()) {
  try {
    return read();
  } catch (const c10::Error& e) {
    fail(path, ": corrupt or truncated torch.save archive (", first_line(e.what_without_backtrace()), ")");
  } catch (const std::bad_alloc&) {
    fail(path, ": corrupt torch.save archive (a record claims more memory than there is)");
  }
}

}  // namespace

c10::IValue torch_load(const std::string& path) {
  check_file_kind(path);
  auto reader =
      from_archive(path, [&] { return std::make_unique<caffe2::serialize::PyTorchStreamReader>(path); });
  auto record = [&](const std::string& name) {
    return from_archive(path, [&] {
      if (!reader->hasRecord(name)) return std::optional<std::string>();
      auto [ptr, size] = reader->getRecord(name);
      return std::optional<std::string>(std::string(static_cast<const char*>(ptr.get()), size));
    });
  };
  if (const auto order = record("byteorder"); order && *order != "little")
    fail(path, ": tensors stored in '", *order, "' byte order; flatclr reads little-endian only");
  const auto pickle = record("data.pkl");
  if (!pickle) {
    fail(path,
         ": the archive has no data.pkl, so it is not a torch.save file (a TorchScript model from "
         "torch.jit.save?)");
  }
  auto loader = [&](const std::string& key) {
    const std::string name = "data/" + key;
    return from_archive(path, [&] {
      if (!reader->hasRecord(name))
        fail(path, ": the archive has no record ", name, " for a tensor: truncated or corrupt?");
      auto [ptr, size] = reader->getRecord(name);
      return c10::Storage(c10::Storage::use_byte_size_t(), static_cast<int64_t>(size), std::move(ptr),
                          /*allocator=*/nullptr, /*resizable=*/false);
    });
  };
  return Unpickler(*pickle, path, loader).run();
}

StateDict load_encoder_state_dict(const std::string& path) {
  const c10::IValue root = torch_load(path);
  if (!root.isGenericDict()) fail(path, ": expected a checkpoint dict at the top, found ", root.tagKind());
  const auto top = root.toGenericDict();
  c10::IValue found;
  std::string where;
  for (const char* key : {"model_state_dict", "state_dict"}) {
    if (auto it = top.find(c10::IValue(key)); it != top.end()) {
      found = it->value();
      where = path + " '" + key + "'";
      break;
    }
  }
  if (found.isNone()) {
    bool all_tensors = top.size() > 0;
    for (const auto& e : top) all_tensors = all_tensors && e.key().isString() && e.value().isTensor();
    if (!all_tensors) {
      std::string keys;
      for (const auto& e : top) {
        if (keys.size() > 200) {
          keys += ", ...";
          break;
        }
        keys += (keys.empty() ? "" : ", ") + (e.key().isString() ? e.key().toStringRef() : e.key().tagKind());
      }
      fail(path,
           ": no encoder weights found: expected a 'model_state_dict' (flatclr's and the FlatCLR paper's "
           "checkpoints) or 'state_dict' entry, or a dict of tensors; the file's dict has keys [",
           keys, "]");
    }
    found = root;
    where = path;
  }
  const StateDict raw = to_state_dict(found, where);
  StateDict out;
  for (const auto& e : raw) {
    std::string key = e.key();
    if (key.rfind("module.", 0) == 0) key = key.substr(7);
    if (out.contains(key))
      fail(where, ": the key ", key, " appears both with and without the 'module.' prefix");
    out.insert(key, e.value());
  }
  return out;
}

}  // namespace flatclr::io
