// Reading Python torch.save files: the FlatCLR paper's checkpoint layout and a zoo of values written by
// PyTorch 1.13 itself (scripts/gen/gen_paper_checkpoint.py -> tests/io/data/), flatclr's own checkpoints
// (cross-checked against LibTorch's torch::pickle_load), and corrupt, truncated, hostile or unsupported
// files, which must give a UserError naming the file and never crash.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../test_paths.h"
#include "flatclr/core/error.h"
#include "flatclr/io/checkpoint.h"
#include "flatclr/io/state_dict.h"
#include "flatclr/io/torch_load.h"
#include "flatclr/models/resnet.h"
#include "flatclr/optim/optimizer_state.h"

using namespace flatclr;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string data_path(const std::string& name) {
  return flatclr::testing::source_path("tests/io/data/" + name);
}

const json& expected() {
  static const json j = [] {
    std::ifstream f(data_path("torch_load_expected.json"));
    if (!f.good()) throw std::runtime_error("missing tests/io/data/torch_load_expected.json");
    return json::parse(f);
  }();
  return j;
}

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("flatclr_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// FNV-1a 64 of the tensor's bytes in contiguous (row-major) order, as the generator computes it.
std::string fnv1a64(const at::Tensor& t) {
  const at::Tensor c = t.detach().contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int64_t i = 0; i < c.numel() * static_cast<int64_t>(c.element_size()); ++i)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

at::ScalarType dtype_of(const std::string& name) {
  static const std::map<std::string, at::ScalarType> kTypes = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool}};
  return kTypes.at(name);
}

double json_double(const json& v) {
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    return NAN;
  }
  return v.get<double>();
}

// Everything the generator recorded about one tensor.
void expect_tensor(const at::Tensor& t, const json& e, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(t.scalar_type(), dtype_of(e["dtype"].get<std::string>()));
  EXPECT_EQ(t.sizes().vec(), e["shape"].get<std::vector<int64_t>>());
  EXPECT_EQ(fnv1a64(t), e["fnv1a64"].get<std::string>()) << "the bytes differ";
  const double sum = t.to(at::kDouble).sum().item<double>();
  const double scale = 1 + t.to(at::kDouble).abs().sum().item<double>();
  EXPECT_NEAR(sum, json_double(e["sum"]), 1e-12 * scale);
  EXPECT_EQ(t.device().type(), c10::kCPU);
  if (e.contains("stride")) {
    EXPECT_EQ(t.strides().vec(), e["stride"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.storage_offset(), e["offset"].get<int64_t>());
    EXPECT_EQ(t.requires_grad(), e["requires_grad"].get<bool>());
    const at::Tensor flat = t.detach().reshape(-1);
    for (size_t i = 0; i < e["first"].size(); ++i) {
      const json& v = e["first"][i];
      if (v.is_boolean()) {
        EXPECT_EQ(flat[i].item<bool>(), v.get<bool>()) << i;
      } else if (v.is_number_integer()) {
        EXPECT_EQ(flat[i].item<int64_t>(), v.get<int64_t>()) << i;
      } else {
        EXPECT_EQ(flat[i].item<double>(), json_double(v)) << i;
      }
    }
  } else {
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.storage_offset(), 0);
  }
}

// A JSON value against an unpickled one: null/bool/int/float/str/array/object <-> None/Bool/Int/Double
// (bit-exact)/String/List or Tuple/dict.
void expect_same(const c10::IValue& v, const json& e, const std::string& where) {
  SCOPED_TRACE(where);
  if (e.is_null()) {
    EXPECT_TRUE(v.isNone()) << v.tagKind();
  } else if (e.is_boolean()) {
    ASSERT_TRUE(v.isBool()) << v.tagKind();
    EXPECT_EQ(v.toBool(), e.get<bool>());
  } else if (e.is_number_integer()) {
    ASSERT_TRUE(v.isInt()) << v.tagKind();
    EXPECT_EQ(v.toInt(), e.get<int64_t>());
  } else if (e.is_number_float()) {
    ASSERT_TRUE(v.isDouble()) << v.tagKind();
    const double d = e.get<double>(), got = v.toDouble();
    EXPECT_EQ(std::memcmp(&d, &got, sizeof d), 0) << got << " vs " << d;
  } else if (e.is_string()) {
    ASSERT_TRUE(v.isString()) << v.tagKind();
    EXPECT_EQ(v.toStringRef(), e.get<std::string>());
  } else if (e.is_array()) {
    ASSERT_TRUE(v.isList() || v.isTuple()) << v.tagKind();
    std::vector<c10::IValue> items;
    if (v.isList()) {
      for (const c10::IValue& x : v.toListRef()) items.push_back(x);
    } else {
      for (const c10::IValue& x : v.toTupleRef().elements()) items.push_back(x);
    }
    ASSERT_EQ(items.size(), e.size());
    for (size_t i = 0; i < items.size(); ++i)
      expect_same(items[i], e[i], where + "[" + std::to_string(i) + "]");
  } else {
    ASSERT_TRUE(v.isGenericDict()) << v.tagKind();
    const auto d = v.toGenericDict();
    ASSERT_EQ(d.size(), e.size());
    for (const auto& [k, x] : e.items()) {
      auto it = d.find(c10::IValue(k));
      ASSERT_NE(it, d.end()) << k;
      expect_same(it->value(), x, where + "." + k);
    }
  }
}

c10::IValue at_key(const c10::IValue& dict, const c10::IValue& key) {
  EXPECT_TRUE(dict.isGenericDict()) << dict.tagKind();
  const auto d = dict.toGenericDict();
  auto it = d.find(key);
  if (it == d.end())
    throw std::runtime_error("missing key " + (key.isString() ? key.toStringRef() : "<int>"));
  return it->value();
}

std::vector<std::string> string_keys(const c10::IValue& dict) {
  std::vector<std::string> keys;
  for (const auto& e : dict.toGenericDict()) keys.push_back(e.key().toStringRef());
  return keys;
}

// `fn` throws a flatclr::UserError whose message holds every one of `parts`.
void expect_user_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no UserError; expected one mentioning " << parts.at(0);
  } catch (const UserError& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << "\nlacks: " << p;
  }
}

// Walks a loaded value as a user would (recursion is safe: torch_load bounds the nesting), touching every
// tensor element; returns the number of nodes.
int64_t touch(const c10::IValue& v) {
  int64_t n = 1;
  if (v.isTensor() && v.toTensor().numel() <= 1000000) {
    (void)v.toTensor().to(at::kDouble).sum().item<double>();
  } else if (v.isList()) {
    for (const c10::IValue& x : v.toListRef()) n += touch(x);
  } else if (v.isTuple()) {
    for (const c10::IValue& x : v.toTupleRef().elements()) n += touch(x);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) n += touch(e.key()) + touch(e.value());
  }
  return n;
}

// A zip archive as torch.save writes it (records data.pkl, data/<key>, version), written with LibTorch's
// writer so that the records' CRCs are right whatever the pickle holds.
void write_archive(const std::string& path, const std::string& pickle,
                   const std::map<std::string, std::string>& records) {
  std::string zip;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
      zip.append(static_cast<const char*>(data), n);
      return n;
    });
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    for (const auto& [name, bytes] : records) writer.writeRecord(name, bytes.data(), bytes.size());
    writer.writeEndOfFile();
  }
  write_bytes(path, zip);
}

// The records of a torch.save archive other than data.pkl and version.
std::map<std::string, std::string> data_records(const std::string& path, std::string* pickle) {
  caffe2::serialize::PyTorchStreamReader reader(path);
  std::map<std::string, std::string> out;
  for (const auto& name : reader.getAllRecords()) {
    auto [ptr, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(ptr.get()), size);
    if (name == "data.pkl") {
      *pickle = bytes;
    } else if (name != "version" && name != ".data/version") {
      out[name] = bytes;
    }
  }
  return out;
}

// Builds pickles opcode by opcode (names as in Python's pickletools).
struct Pickle {
  std::string b = std::string("\x80\x02", 2);  // PROTO 2
  Pickle& op(char c) {
    b.push_back(c);
    return *this;
  }
  Pickle& raw(const std::string& s) {
    b += s;
    return *this;
  }
  Pickle& str(const std::string& s) {  // BINUNICODE
    op('X');
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
    return raw(s);
  }
  Pickle& i32(int32_t v) {  // BININT
    op('J');
    const auto u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    return op('c').raw(module + "\n" + name + "\n");
  }
  Pickle& ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) i32(static_cast<int32_t>(x));
    return op('t');
  }
  // torch._utils._rebuild_tensor_v2 of storage `key` (FloatStorage of `numel` elements).
  Pickle& tensor(const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& sizes,
                 const std::vector<int64_t>& strides, const std::string& location = "cpu") {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(')
        .str("storage")
        .global("torch", "FloatStorage")
        .str(key)
        .str(location)
        .i32(static_cast<int32_t>(numel));
    op('t').op('Q');                                                         // TUPLE, BINPERSID
    i32(static_cast<int32_t>(offset)).ints(sizes).ints(strides).op('\x89');  // NEWFALSE
    global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  std::string done() { return b + "."; }
};

// A string literal with its NUL bytes.
template <size_t N>
std::string lit(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string floats_record(int n) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

models::ResNet paper_sized_resnet() {
  models::ResNetOptions o;
  o.arch = flatclr::models::Arch::kRes18;
  o.imagenet_stem = false;
  o.width_multiplier = 1.0 / 32;  // the generator's encoder: stem 2, layers 2/4/8/16, head 16 -> 16 -> 128
  return models::ResNet(o);
}

// The paper's checkpoint layout against what its generator recorded: the six fields, the state dict (an
// OrderedDict, its _metadata attribute dropped, keys in PyTorch's order) and the optimizer's momentum buffers
// ({"state": {int: {"momentum_buffer": tensor}}, "param_groups": [{...}]}).
void expect_paper_checkpoint(const c10::IValue& root, const json& e) {
  ASSERT_TRUE(root.isGenericDict());
  EXPECT_EQ(string_keys(root), (std::vector<std::string>{"batch_size", "epoch", "model", "model_state_dict",
                                                         "optimizer", "scheduler"}));
  expect_same(at_key(root, "batch_size"), e["batch_size"], "batch_size");
  expect_same(at_key(root, "epoch"), e["epoch"], "epoch");
  expect_same(at_key(root, "model"), e["model"], "model");
  const c10::IValue sd = at_key(root, "model_state_dict");
  const auto keys = string_keys(sd);
  ASSERT_EQ(keys.size(), e["state_dict"].size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto& entry = e["state_dict"][i];
    ASSERT_EQ(keys[i], entry[0].get<std::string>());
    expect_tensor(at_key(sd, keys[i]).toTensor(), entry[1], keys[i]);
  }
  const c10::IValue state = at_key(at_key(root, "optimizer"), "state");
  ASSERT_EQ(state.toGenericDict().size(), e["momentum"].size());
  for (const auto& m : e["momentum"]) {
    const int64_t index = m[0].get<int64_t>();
    expect_tensor(at_key(at_key(state, index), "momentum_buffer").toTensor(), m[1],
                  "momentum " + std::to_string(index));
  }
}

}  // namespace

TEST(TorchLoad, PaperCheckpointHoldsWhatPythonSaved) {
  const json& e = expected()["paper"];
  const c10::IValue root = io::torch_load(data_path("paper_checkpoint.pth.tar"));
  expect_paper_checkpoint(root, e);
  const c10::IValue opt = at_key(root, "optimizer");
  const c10::IValue groups = at_key(opt, "param_groups");
  ASSERT_TRUE(groups.isList());
  ASSERT_EQ(groups.toListRef().size(), 1u);
  const c10::IValue group = groups.toListRef()[0];
  for (const auto& [k, v] : e["param_group"].items())
    expect_same(at_key(group, k), v, "param_groups[0]." + k);
  for (const auto& k : e["param_group_none"]) EXPECT_TRUE(at_key(group, k.get<std::string>()).isNone()) << k;
  expect_same(at_key(group, "params"), e["params"], "params");

  // scheduler: LambdaLR's state_dict, its lambda saved as None.
  expect_same(at_key(root, "scheduler"), e["scheduler"], "scheduler");
  EXPECT_TRUE(at_key(at_key(root, "scheduler"), "lr_lambdas").toListRef()[0].isNone());
}

TEST(TorchLoad, PaperEncoderLoadsIntoFlatclrResNetExactly) {
  const std::string path = data_path("paper_checkpoint.pth.tar");
  const json& e = expected()["paper"]["state_dict"];
  const io::StateDict sd = io::load_encoder_state_dict(path);
  ASSERT_EQ(sd.size(), e.size());

  auto model = paper_sized_resnet();
  const auto report = io::load_module_state_dict(*model, sd, /*strict=*/true, path);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  const io::StateDict loaded = io::module_state_dict(*model);
  ASSERT_EQ(loaded.size(), e.size());
  size_t i = 0;
  for (const auto& entry : loaded) {  // flatclr's key order is PyTorch's: the generator mirrors it
    const std::string python_key = e[i][0].get<std::string>();
    EXPECT_EQ("module." + entry.key(), python_key);
    EXPECT_EQ(fnv1a64(entry.value()), e[i][1]["fnv1a64"].get<std::string>()) << entry.key();
    EXPECT_TRUE(torch::equal(entry.value(), sd.at(entry.key()))) << entry.key();
    ++i;
  }
  // The loaded encoder runs.
  torch::NoGradGuard no_grad;
  model->eval();
  auto [h, z] = model->forward(torch::rand({2, 3, 8, 8}));
  EXPECT_EQ(h.sizes(), (at::IntArrayRef{2, 16}));
  EXPECT_EQ(z.sizes(), (at::IntArrayRef{2, 128}));
  EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
}

TEST(TorchLoad, CheckpointWithoutPrefixAndWithOneItemContainers) {
  const std::string path = data_path("paper_checkpoint_noprefix.pth.tar");
  const c10::IValue root = io::torch_load(path);
  expect_same(at_key(root, "one_item_dict"), json{{"only", 1}}, "one_item_dict");
  expect_same(at_key(root, "one_item_list"), json::array({"x"}), "one_item_list");
  expect_same(at_key(root, "nested_single"), json::parse(R"([{"k": [2.5]}])"), "nested_single");
  expect_same(at_key(root, "epoch"), 2, "epoch");
  const c10::IValue opt = at_key(root, "optimizer");
  EXPECT_EQ(at_key(opt, "state").toGenericDict().size(), 0u);  // an optimizer that has not stepped
  expect_same(at_key(at_key(opt, "param_groups").toListRef()[0], "lr"), 0.3, "lr");

  // Same encoder as the prefixed checkpoint, keys without "module.".
  const auto plain = io::load_encoder_state_dict(path);
  const auto prefixed = io::load_encoder_state_dict(data_path("paper_checkpoint.pth.tar"));
  const auto raw_keys = string_keys(at_key(root, "model_state_dict"));
  ASSERT_EQ(plain.size(), prefixed.size());
  size_t i = 0;
  for (const auto& entry : plain) {
    EXPECT_EQ(entry.key(), raw_keys[i++]);
    EXPECT_EQ(entry.key().rfind("module.", 0), std::string::npos);
    EXPECT_TRUE(torch::equal(entry.value(), prefixed.at(entry.key()))) << entry.key();
  }
  auto model = paper_sized_resnet();
  io::load_module_state_dict(*model, plain, /*strict=*/true, path);
}

// The paper's checkpoint as PyTorch 2.11 with numpy 2 saves it today (scripts/gen/gen_torch2_checkpoints.py),
// and the same bytes with numpy 1.x's module name for the scalars: the optimizer's lr and the scheduler's
// _last_lr are numpy float64 values (its cosine schedule uses np.cos), read as plain floats.
class TorchLoadTorch2 : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchLoadTorch2, PaperCheckpointWithNumpyScalarsHoldsWhatPythonSaved) {
  static const json e = [] {
    std::ifstream f(data_path("torch2_expected.json"));
    if (!f.good()) throw std::runtime_error("missing tests/io/data/torch2_expected.json");
    return json::parse(f);
  }();
  const std::string path = data_path(GetParam());
  const c10::IValue root = io::torch_load(path);
  expect_paper_checkpoint(root, e);
  const c10::IValue sd = at_key(root, "model_state_dict");
  const c10::IValue group = at_key(at_key(root, "optimizer"), "param_groups").toListRef()[0];
  expect_same(
      group,
      [&] {
        json g = e["param_group"];
        g["params"] = e["params"];
        return g;
      }(),
      "param_groups[0]");
  EXPECT_GT(at_key(group, "lr").toDouble(), 0.5);  // a numpy float64 in the file
  expect_same(at_key(root, "scheduler"), e["scheduler"], "scheduler");

  // What evaluation takes from it: the encoder, into flatclr's ResNet, bit for bit.
  const io::StateDict enc = io::load_encoder_state_dict(path);
  auto model = paper_sized_resnet();
  const auto report = io::load_module_state_dict(*model, enc, /*strict=*/true, path);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_TRUE(report.unexpected.empty());
  for (const auto& entry : io::module_state_dict(*model))
    EXPECT_TRUE(torch::equal(entry.value(), at_key(sd, "module." + entry.key()).toTensor())) << entry.key();
}

INSTANTIATE_TEST_SUITE_P(Files, TorchLoadTorch2,
                         ::testing::Values("paper_checkpoint_torch2.pth.tar",
                                           "paper_checkpoint_numpy1.pth.tar"),
                         [](const auto& info) {
                           return info.param.find("numpy1") != std::string::npos
                                      ? std::string("Numpy1")
                                      : std::string("Torch2Numpy2");
                         });

// numpy scalars of other types, and ones flatclr refuses, are read or refused by name.
TEST(TorchLoad, NumpyScalarsOfEveryKindAndClearRefusals) {
  const auto dir = temp_dir("numpy_scalars");
  const std::string script = dir.string() + "/make.py";
  {
    std::ofstream f(script);
    f << "import sys, numpy as np, torch\n"
         "torch.save({'f8': np.float64(-0.1), 'f4': np.float32(1.5), 'f2': np.float16(0.25), 'i8': "
         "np.int64(-3),\n"
         "            'i1': np.int8(-7), 'u2': np.uint16(65535), 'b': np.bool_(True)},\n"
         "           sys.argv[1] + '/scalars.pt')\n"
         "torch.save({'c': np.complex128(1j)}, sys.argv[1] + '/complex.pt')\n"
         "torch.save({'a': np.zeros(3)}, sys.argv[1] + '/array.pt')\n"
         // Hand-made scalars numpy would not write: 4 bytes for a float64, and a big-endian float64.
         "class Short:\n"
         "    def __reduce__(self): return (np.float64(0).__reduce__()[0], (np.dtype('f8'), b'abcd'))\n"
         "class Big:\n"
         "    def __reduce__(self): return (np.float64(0).__reduce__()[0], (np.dtype('>f8'), b'@\\x04' + "
         "bytes(6)))\n"
         "torch.save({'s': Short()}, sys.argv[1] + '/short.pt')\n"
         "torch.save({'b': Big()}, sys.argv[1] + '/big_endian.pt')\n";
  }
  ASSERT_EQ(std::system((flatclr::testing::python() + " " + script + " " + dir.string()).c_str()), 0);
  const c10::IValue v = io::torch_load((dir / "scalars.pt").string());
  expect_same(at_key(v, "f8"), -0.1, "f8");
  expect_same(at_key(v, "f4"), 1.5, "f4");
  expect_same(at_key(v, "f2"), 0.25, "f2");
  expect_same(at_key(v, "i8"), -3, "i8");
  expect_same(at_key(v, "i1"), -7, "i1");
  expect_same(at_key(v, "u2"), 65535, "u2");
  expect_same(at_key(v, "b"), true, "b");
  for (const char* name : {"complex.pt", "array.pt", "short.pt", "big_endian.pt"}) {
    const std::string path = (dir / name).string();
    try {
      io::torch_load(path);
      ADD_FAILURE() << name << ": no error";
    } catch (const UserError& err) {
      EXPECT_NE(std::string(err.what()).find(path), std::string::npos) << err.what();
      EXPECT_NE(std::string(err.what()).find("numpy"), std::string::npos) << err.what();
    }
  }
  fs::remove_all(dir);
}

class TorchLoadValues : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchLoadValues, EveryDtypeViewAndPythonValue) {
  const std::string path = data_path(GetParam());
  const json& e = expected()["values"];
  const c10::IValue root = io::torch_load(path);

  const c10::IValue tensors = at_key(root, "tensors");
  const auto names = string_keys(tensors);
  ASSERT_EQ(names.size(), e["tensors"].size());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(names[i], e["tensors"][i][0].get<std::string>());
    expect_tensor(at_key(tensors, names[i]).toTensor(), e["tensors"][i][1], names[i]);
  }
  // Views of one storage share memory, as in Python; other tensors do not.
  at::Tensor base = at_key(tensors, "base").toTensor();
  for (const char* view : {"transposed", "slice", "column"}) {
    EXPECT_EQ(at_key(tensors, view).toTensor().storage().unsafeGetStorageImpl(),
              base.storage().unsafeGetStorageImpl())
        << view;
  }
  EXPECT_NE(at_key(tensors, "f32").toTensor().storage().unsafeGetStorageImpl(),
            base.storage().unsafeGetStorageImpl());
  base[2][3].fill_(100.f);  // slice = base[1:3, 2:5], transposed = base.t()
  EXPECT_EQ(at_key(tensors, "slice").toTensor()[1][1].item<float>(), 100.f);
  EXPECT_EQ(at_key(tensors, "transposed").toTensor()[3][2].item<float>(), 100.f);

  expect_same(at_key(root, "ints"), e["ints"], "ints");
  expect_same(at_key(root, "strings"), e["strings"], "strings");
  const auto floats = at_key(root, "floats").toListRef();
  ASSERT_EQ(floats.size(), e["floats"].size());
  for (size_t i = 0; i < floats.size(); ++i) {
    const double want = json_double(e["floats"][i]), got = floats[i].toDouble();
    EXPECT_EQ(std::memcmp(&want, &got, sizeof want), 0) << i << ": " << got;  // -0.0 keeps its sign
  }

  // [1, [2, (3, "x")], (), [], {}, (None, True, False)]
  const auto nested = at_key(root, "nested").toListRef();
  ASSERT_EQ(nested.size(), 6u);
  EXPECT_EQ(nested[0].toInt(), 1);
  const auto inner = nested[1].toListRef();
  ASSERT_EQ(inner.size(), 2u);
  EXPECT_EQ(inner[0].toInt(), 2);
  ASSERT_TRUE(inner[1].isTuple());
  EXPECT_EQ(inner[1].toTupleRef().elements()[0].toInt(), 3);
  EXPECT_EQ(inner[1].toTupleRef().elements()[1].toStringRef(), "x");
  EXPECT_TRUE(nested[2].isTuple() && nested[2].toTupleRef().elements().empty());
  EXPECT_TRUE(nested[3].isList() && nested[3].toListRef().empty());
  EXPECT_TRUE(nested[4].isGenericDict() && nested[4].toGenericDict().empty());
  const auto& triple = nested[5].toTupleRef().elements();
  EXPECT_TRUE(triple[0].isNone());
  EXPECT_TRUE(triple[1].toBool());
  EXPECT_FALSE(triple[2].toBool());

  EXPECT_TRUE(at_key(root, "none").isNone());
  EXPECT_TRUE(at_key(root, "true").toBool());
  EXPECT_FALSE(at_key(root, "false").toBool());
  EXPECT_EQ(at_key(root, "bytes").toStringRef(), std::string("\x00\x01\xfe\xff", 4));
  EXPECT_EQ(at_key(root, "empty_bytes").toStringRef(), "");
  expect_same(at_key(root, "set"), json::array({3}), "set");
  const auto c = at_key(root, "complex").toComplexDouble();
  EXPECT_EQ(c.real(), 1.5);
  EXPECT_EQ(c.imag(), -2.0);
  EXPECT_EQ(at_key(root, "cpu").toDevice(), c10::Device(c10::kCPU));
  EXPECT_EQ(at_key(root, "cuda1").toDevice(), c10::Device(c10::kCUDA, 1));
  expect_same(at_key(root, "size"), json::array({2, 3}), "size");
  EXPECT_TRUE(at_key(root, "size").isTuple());
  const c10::IValue int_keys = at_key(root, "int_keys");
  EXPECT_EQ(at_key(int_keys, int64_t{0}).toStringRef(), "a");
  EXPECT_EQ(at_key(int_keys, int64_t{5}).toStringRef(), "b");
  // One list pickled twice (a memo reference) is one object, as in Python.
  const auto twice = at_key(root, "twice").toListRef();
  ASSERT_EQ(twice.size(), 2u);
  EXPECT_TRUE(twice[0].is(twice[1]));
  expect_same(twice[0], json::array({7, "shared"}), "twice[0]");
}

INSTANTIATE_TEST_SUITE_P(Protocols, TorchLoadValues,
                         ::testing::Values("values_proto2.pt", "values_proto4.pt"));

TEST(TorchLoad, ReadsFlatclrCheckpointsLikeLibTorch) {
  auto dir = temp_dir("torch_load_ours");
  torch::manual_seed(5);
  auto model = paper_sized_resnet();
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  model->forward(torch::rand({2, 3, 8, 8})).second.sum().backward();
  sgd.step();

  io::Checkpoint c;
  c.epoch = 4;
  c.batch_size = 64;
  c.global_step = 40;
  c.model = "res18";
  c.model_state_dict = io::module_state_dict(*model);
  c.optimizer = optim::optimizer_state_dict(sgd);
  c10::impl::GenericDict sched(c10::StringType::get(), c10::AnyType::get());
  sched.insert("step", int64_t{40});
  c.scheduler = sched;
  c.config_json = R"({"lr": 0.1})";
  const std::string path = (dir / io::checkpoint_file_name(4)).string();
  io::save_checkpoint(path, c);

  // Same object as LibTorch's own reader gives (an independent implementation for files LibTorch wrote).
  const c10::IValue ours = io::torch_load(path);
  const std::string bytes = read_bytes(path);
  const c10::IValue libtorch = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  std::function<void(const c10::IValue&, const c10::IValue&, const std::string&)> same =
      [&](const c10::IValue& a, const c10::IValue& b, const std::string& where) {
        SCOPED_TRACE(where);
        if (b.isTensor()) {
          ASSERT_TRUE(a.isTensor());
          EXPECT_EQ(a.toTensor().scalar_type(), b.toTensor().scalar_type());
          EXPECT_EQ(a.toTensor().strides(), b.toTensor().strides());
          EXPECT_TRUE(torch::equal(a.toTensor(), b.toTensor()));
        } else if (b.isList()) {
          ASSERT_TRUE(a.isList()) << a.tagKind();
          ASSERT_EQ(a.toListRef().size(), b.toListRef().size());
          for (size_t i = 0; i < a.toListRef().size(); ++i)
            same(a.toListRef()[i], b.toListRef()[i], where + "[]");
        } else if (b.isTuple()) {
          ASSERT_TRUE(a.isTuple()) << a.tagKind();
          ASSERT_EQ(a.toTupleRef().elements().size(), b.toTupleRef().elements().size());
          for (size_t i = 0; i < b.toTupleRef().elements().size(); ++i) {
            same(a.toTupleRef().elements()[i], b.toTupleRef().elements()[i], where + "()");
          }
        } else if (b.isGenericDict()) {
          ASSERT_TRUE(a.isGenericDict()) << a.tagKind();
          const auto da = a.toGenericDict(), db = b.toGenericDict();
          ASSERT_EQ(da.size(), db.size());
          auto ia = da.begin();
          for (auto ib = db.begin(); ib != db.end(); ++ib, ++ia) {
            EXPECT_TRUE(ia->key() == ib->key());
            same(ia->value(), ib->value(),
                 where + "." + (ib->key().isString() ? ib->key().toStringRef() : "#"));
          }
        } else {
          EXPECT_EQ(a.tagKind(), b.tagKind());
          EXPECT_TRUE(a == b) << a << " vs " << b;
        }
      };
  same(ours, libtorch, "root");
  EXPECT_EQ(touch(ours), touch(libtorch));

  const io::StateDict sd = io::load_encoder_state_dict(path);
  const io::StateDict want = io::module_state_dict(*model);
  ASSERT_EQ(sd.size(), want.size());
  for (const auto& e : want) EXPECT_TRUE(torch::equal(sd.at(e.key()), e.value())) << e.key();
  auto other = paper_sized_resnet();
  io::load_module_state_dict(*other, sd, /*strict=*/true, path);
  fs::remove_all(dir);
}

TEST(TorchLoad, EncoderStateDictFromOtherLayouts) {
  auto dir = temp_dir("torch_load_layouts");
  const at::Tensor w = torch::arange(6, torch::kFloat32).reshape({2, 3});
  auto save = [&](const std::string& name, const c10::IValue& v) {
    const std::string p = (dir / name).string();
    const auto bytes = torch::pickle_save(v);
    write_bytes(p, std::string(bytes.begin(), bytes.end()));
    return p;
  };
  c10::Dict<std::string, at::Tensor> tensors;
  tensors.insert("module.fc.weight", w);
  tensors.insert("conv1.weight", w + 1);
  c10::impl::GenericDict wrapped(c10::StringType::get(), c10::AnyType::get());
  wrapped.insert("state_dict", tensors);
  wrapped.insert("epoch", int64_t{3});

  for (const auto& p : {save("wrapped.pt", wrapped), save("plain.pt", tensors)}) {
    const auto sd = io::load_encoder_state_dict(p);
    ASSERT_EQ(sd.size(), 2u) << p;
    EXPECT_TRUE(torch::equal(sd.at("fc.weight"), w));
    EXPECT_TRUE(torch::equal(sd.at("conv1.weight"), w + 1));
  }

  c10::impl::GenericDict none(c10::StringType::get(), c10::AnyType::get());
  none.insert("weights", tensors);
  none.insert("epoch", int64_t{3});
  const std::string none_path = save("none.pt", none);
  expect_user_error([&] { io::load_encoder_state_dict(none_path); },
                    {none_path, "model_state_dict", "state_dict", "weights, epoch"});

  c10::Dict<std::string, at::Tensor> twice;
  twice.insert("module.fc.weight", w);
  twice.insert("fc.weight", w);
  const std::string twice_path = save("twice.pt", twice);
  expect_user_error([&] { io::load_encoder_state_dict(twice_path); }, {twice_path, "fc.weight", "module."});

  const std::string list_path = save("list.pt", c10::IValue(c10::List<int64_t>({1, 2})));
  expect_user_error([&] { io::load_encoder_state_dict(list_path); },
                    {list_path, "expected a checkpoint dict"});
  fs::remove_all(dir);
}

TEST(TorchLoad, RefusesLegacyFormatUnknownClassesAndOtherFiles) {
  const std::string legacy = data_path("legacy_format.pt");
  expect_user_error([&] { io::torch_load(legacy); }, {legacy, "legacy", "PyTorch >= 1.6"});
  const std::string unknown = data_path("unknown_global.pt");
  expect_user_error([&] { io::torch_load(unknown); }, {unknown, "argparse.Namespace"});
  expect_user_error([&] { io::load_encoder_state_dict(unknown); }, {unknown, "argparse.Namespace"});

  auto dir = temp_dir("torch_load_refuse");
  const std::string missing = (dir / "missing.pt").string();
  expect_user_error([&] { io::torch_load(missing); }, {missing, "does not exist"});
  const std::string text = (dir / "text.pt").string();
  write_bytes(text, "hello, this is not a checkpoint\n");
  expect_user_error([&] { io::torch_load(text); }, {text, "not a torch.save file"});
  const std::string empty = (dir / "empty.pt").string();
  write_bytes(empty, "");
  expect_user_error([&] { io::torch_load(empty); }, {empty, "not a torch.save file"});
  const std::string no_pkl = (dir / "no_pkl.pt").string();
  {
    caffe2::serialize::PyTorchStreamWriter writer(no_pkl);
    writer.writeRecord("constants.pkl", "x", 1);
    writer.writeEndOfFile();
  }
  expect_user_error([&] { io::torch_load(no_pkl); }, {no_pkl, "no data.pkl"});
  fs::remove_all(dir);
}

TEST(TorchLoad, TruncatedArchivesAreUserErrors) {
  const std::string bytes = read_bytes(data_path("paper_checkpoint.pth.tar"));
  auto dir = temp_dir("torch_load_cut");
  const std::string path = (dir / "cut.pth.tar").string();
  for (size_t keep : {size_t{0}, size_t{3}, size_t{64}, size_t{1000}, bytes.size() / 3, bytes.size() / 2,
                      bytes.size() - 500, bytes.size() - 22, bytes.size() - 1}) {
    SCOPED_TRACE(keep);
    write_bytes(path, bytes.substr(0, keep));
    expect_user_error([&] { io::torch_load(path); }, {path});
  }
  fs::remove_all(dir);
}

TEST(TorchLoad, FlippedBytesInDataPklAreUserErrorsOrHarmless) {
  const std::string original = data_path("paper_checkpoint.pth.tar");
  const std::string bytes = read_bytes(original);
  size_t offset = 0, size = 0;
  {
    caffe2::serialize::PyTorchStreamReader reader(original);
    offset = reader.getRecordOffset("data.pkl");
    size = std::get<1>(reader.getRecord("data.pkl"));
  }
  ASSERT_GT(size, 1000u);
  auto dir = temp_dir("torch_load_flip");
  const std::string path = (dir / "flipped.pth.tar").string();
  int errors = 0;
  for (size_t k = 0; k < 40; ++k) {
    std::string b = bytes;
    const size_t at = offset + (k * 7919) % size;
    b[at] = static_cast<char>(b[at] ^ 0x5a);
    write_bytes(path, b);
    try {
      touch(io::torch_load(path));
    } catch (const UserError& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 5);  // data.pkl has no CRC check here: many flips land in harmless bytes
  fs::remove_all(dir);
}

// Every single-byte change and every truncation of a real pickle, re-archived with correct CRCs so that the
// unpickler sees it: each load either works or is a UserError naming the file.
TEST(TorchLoad, MutatedPicklesNeverCrash) {
  std::string pickle;
  const auto records = data_records(data_path("values_proto2.pt"), &pickle);
  ASSERT_GT(pickle.size(), 500u);
  auto dir = temp_dir("torch_load_fuzz");
  const std::string path = (dir / "fuzz.pt").string();
  int ok = 0, errors = 0;
  auto attempt = [&](const std::string& p) {
    write_archive(path, p, records);
    try {
      touch(io::torch_load(path));
      ++ok;
    } catch (const UserError& e) {
      ++errors;
      if (std::string(e.what()).find(path) == std::string::npos) ADD_FAILURE() << e.what();
    }
  };
  uint32_t rng = 12345;
  for (size_t i = 0; i < pickle.size(); ++i) {
    std::string p = pickle;
    p[i] = static_cast<char>(p[i] ^ 0xff);
    attempt(p);
    rng = rng * 1664525u + 1013904223u;
    if (i % 3 == 0) {
      p[i] = static_cast<char>(rng >> 24);
      attempt(p);
    }
    if (i % 7 == 0) attempt(pickle.substr(0, i));
  }
  EXPECT_GT(errors, static_cast<int>(pickle.size()));
  EXPECT_GT(ok, 10);
  fs::remove_all(dir);
}

TEST(TorchLoad, HandWrittenTensorsAreBoundsChecked) {
  auto dir = temp_dir("torch_load_bounds");
  const std::string path = (dir / "t.pt").string();
  const std::map<std::string, std::string> four = {{"data/0", floats_record(4)}};

  write_archive(path, Pickle().tensor("0", 4, 0, {2, 2}, {1, 2}).done(), four);
  const at::Tensor t = io::torch_load(path).toTensor();
  EXPECT_TRUE(torch::equal(t, torch::tensor({0.f, 2.f, 1.f, 3.f}).reshape({2, 2})));
  write_archive(path, Pickle().tensor("0", 4, 3, {1}, {1}).done(), four);
  EXPECT_EQ(io::torch_load(path).toTensor().item<float>(), 3.f);
  write_archive(path, Pickle().tensor("0", 4, 4, {0, 5}, {5, 1}).done(), four);
  EXPECT_EQ(io::torch_load(path).toTensor().numel(), 0);
  // Saved from a GPU: loads on the CPU.
  write_archive(path, Pickle().tensor("0", 4, 0, {4}, {1}, "cuda:0").done(), four);
  const at::Tensor from_gpu = io::torch_load(path).toTensor();
  EXPECT_EQ(from_gpu.device().type(), c10::kCPU);
  EXPECT_TRUE(torch::equal(from_gpu, torch::arange(4, torch::kFloat32)));

  struct Bad {
    int64_t numel, offset;
    std::vector<int64_t> sizes, strides;
    const char* says;
  };
  for (const Bad& bad : std::vector<Bad>{
           {4, 1, {4}, {1}, "outside its storage"},
           {4, 0, {2, 3}, {3, 1}, "outside its storage"},
           {4, 5, {0}, {1}, "outside its storage"},
           {4, 0, {2}, {-1}, "negative"},
           {4, 0, {-2}, {1}, "negative"},
           {4, 0, {2, 2}, {1}, "sizes"},
           {4, 0, {2147483647, 2147483647, 2147483647}, {0, 0, 0}, "2^63"},
           {4, 0, {2, 2}, {2147483647, 1}, "outside its storage"},
           {5, 0, {4}, {1}, "16 bytes"},
           {-1, 0, {1}, {1}, "16 bytes"},
       }) {
    SCOPED_TRACE(bad.says);
    write_archive(path, Pickle().tensor("0", bad.numel, bad.offset, bad.sizes, bad.strides).done(), four);
    expect_user_error([&] { io::torch_load(path); }, {path, bad.says});
  }
  write_archive(path, Pickle().tensor("1", 4, 0, {4}, {1}).done(), four);
  expect_user_error([&] { io::torch_load(path); }, {path, "data/1"});
  fs::remove_all(dir);
}

TEST(TorchLoad, HostilePicklesAreUserErrors) {
  auto dir = temp_dir("torch_load_hostile");
  const std::string path = (dir / "h.pt").string();
  auto load = [&](const std::string& pickle, const std::map<std::string, std::string>& records = {}) {
    write_archive(path, pickle, records);
    return io::torch_load(path);
  };
  auto refuse = [&](const std::string& pickle, const std::string& says,
                    const std::map<std::string, std::string>& records = {}) {
    SCOPED_TRACE(says);
    expect_user_error([&] { load(pickle, records); }, {path, says});
  };
  constexpr int kDeep = 200000;
  {  // 200k nested lists: refused, and freeing them must not overflow the stack
    Pickle p;
    for (int i = 0; i < kDeep; ++i) p.op(']');
    for (int i = 1; i < kDeep; ++i) p.op('a');
    refuse(p.done(), "nested more than 512");
  }
  {  // the same as garbage left in the memo, not part of the result: dropped quietly
    Pickle p;
    for (int i = 0; i < kDeep; ++i) p.op(']');
    for (int i = 1; i < kDeep; ++i) p.op('a');
    p.op('q').op('\x00').op('0').op('N');
    EXPECT_TRUE(load(p.done()).isNone());
  }
  {  // 200k nested 1-tuples
    Pickle p;
    p.op(')');
    for (int i = 0; i < kDeep; ++i) p.op('\x85');
    refuse(p.done(), "nested more than 512");
  }
  {  // a list containing itself
    refuse(Pickle().op(']').op('q').op('\x00').op('h').op('\x00').op('a').done(), "contains itself");
    // ... or only reachable through the memo: dropped without leaking
    EXPECT_EQ(
        load(Pickle().op(']').op('q').op('\x00').op('h').op('\x00').op('a').op('0').op('K').op('\x07').done())
            .toInt(),
        7);
  }
  {  // 512 levels are fine, 513 are not
    Pickle ok, too_deep;
    for (int i = 0; i < 512; ++i) ok.op(']');
    for (int i = 1; i < 512; ++i) ok.op('a');
    EXPECT_EQ(touch(load(ok.done())), 512);
    for (int i = 0; i < 513; ++i) too_deep.op(']');
    for (int i = 1; i < 513; ++i) too_deep.op('a');
    refuse(too_deep.done(), "nested more than 512");
  }
  refuse(Pickle().op('h').op('\x05').done(), "memo entry 5");
  refuse(Pickle().raw("X\xff\xff\xff\xff").done(), "truncated");
  refuse(Pickle().raw(lit("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00")).done(), "int64");
  refuse(Pickle().raw(lit("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01")).done(), "int64");
  EXPECT_EQ(load(Pickle().raw(lit("\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff")).done()).toInt(), -1);
  EXPECT_EQ(load(Pickle().raw(lit("\x8a\x09\xff\xff\xff\xff\xff\xff\xff\x7f\x00")).done()).toInt(),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(load(Pickle().raw(lit("\x8a\x02\x00\x80")).done()).toInt(), -32768);
  refuse(Pickle().raw("I42\n").done(), "unsupported pickle opcode 0x49");
  refuse(Pickle().op('N').b, "truncated");  // no STOP
  refuse(Pickle().op('a').done(), "stack underflow");
  refuse(Pickle().op('(').op('N').op('a').done(), "stack underflow");  // APPEND cannot reach below a MARK
  refuse(Pickle().op('K').op('\x01').op('K').op('\x02').op('N').op('s').done(), "not a dict");
  refuse(Pickle().op('}').op(')').op('N').op('s').done(), "key of type Tuple");
  refuse(Pickle().op('u').done(), "MARK missing");
  refuse(Pickle().global("os", "system").str("echo hi").op('\x85').op('R').done(), "os.system");
  refuse(Pickle().global("torch", "FloatStorage").done(), "torch.FloatStorage");
  refuse(Pickle().global("torch", "device").str("warp").op('\x85').op('R').done(), "warp");
  refuse(Pickle().global("collections", "OrderedDict").op('K').op('\x01').op('\x85').op('R').done(),
         "collections.OrderedDict called with 1");
  refuse(Pickle()
             .op('(')
             .str("storage")
             .global("torch", "FloatStorage")
             .str("0")
             .str("cpu")
             .i32(4)
             .op('t')
             .op('Q')
             .done(),
         "a storage is used as the file's top-level object", {{"data/0", floats_record(4)}});
  refuse(std::string("\x80\x06.", 3), "protocol 6");
  fs::remove_all(dir);
}
