#include "flatclr/data/cifar.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "flatclr/core/error.h"
#include "flatclr/data/download.h"

namespace flatclr::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kRedownloadHint = "truncated download? delete the folder and run again to re-download";

const std::vector<std::string> kCifar10ClassNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                     "dog",      "frog",       "horse", "ship", "truck"};

// 170052171 -> "170,052,171".
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

// The archive's file name: the URL's last path component, without a query.
std::string archive_file_name(const std::string& url, const CifarLayout& layout) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") name = layout.name + ".tar.gz";
  return name;
}

std::vector<std::string> all_files(const CifarLayout& layout) {
  std::vector<std::string> files = layout.train_files;
  files.insert(files.end(), layout.test_files.begin(), layout.test_files.end());
  return files;
}

std::vector<std::string> missing_files(const fs::path& dir, const CifarLayout& layout) {
  std::vector<std::string> missing;
  for (const auto& f : all_files(layout)) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / f, ec)) missing.push_back(f);
  }
  return missing;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

// What an offline user has to do, in one sentence.
std::string manual_install_hint(const std::string& data_root, const CifarLayout& layout,
                                const CifarSource& src) {
  const std::string archive = archive_file_name(src.url, layout);
  const fs::path root(data_root);
  std::string size = src.size_bytes > 0 ? with_commas(src.size_bytes) + " bytes, " : "";
  return "to install " + layout.title + " by hand, download " + src.url + " (" + size + "MD5 " + src.md5 +
         ") and either put it at " + (root / archive).string() +
         " and run again, or unpack it with `tar xzf " + archive + " -C " + data_root + "` so that " +
         (root / layout.folder / all_files(layout).front()).string() + " exists";
}

// Reads exactly `bytes` bytes of `path` into dest, after checking the file's size.
void read_whole_file(const fs::path& path, int64_t records, int64_t record_bytes, uint8_t* dest) {
  const int64_t bytes = records * record_bytes;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) fail(path.string(), " not found (expected ", with_commas(bytes), " bytes)");
  if (!fs::is_regular_file(status)) fail(path.string(), " is not a regular file");
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) fail("cannot read the size of ", path.string(), ": ", ec.message());
  if (size != bytes) {
    fail(path.string(), " has ", size, " bytes, expected ", bytes, " (", records, " records of ",
         record_bytes, " bytes): ", kRedownloadHint);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail("cannot open ", path.string(), ": ", std::strerror(errno));
  if (static_cast<int64_t>(std::fread(dest, 1, static_cast<size_t>(bytes), file.get())) != bytes) {
    fail("read error in ", path.string(), " (", bytes, " bytes expected): ", kRedownloadHint);
  }
}

}  // namespace

CifarLayout cifar_layout(const std::string& name) {
  CifarLayout l;
  l.name = name;
  if (name == "cifar10") {
    l.title = "CIFAR-10";
    l.folder = "cifar-10-batches-bin";
    l.train_files = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                     "data_batch_5.bin"};
    l.test_files = {"test_batch.bin"};
    l.train_records_per_file = 10000;
    l.test_records_per_file = 10000;
    l.label_bytes = 1;
    l.num_classes = 10;
    l.names_file = "batches.meta.txt";
  } else if (name == "cifar100") {
    l.title = "CIFAR-100";
    l.folder = "cifar-100-binary";
    l.train_files = {"train.bin"};
    l.test_files = {"test.bin"};
    l.train_records_per_file = 50000;
    l.test_records_per_file = 10000;
    l.label_bytes = 2;  // coarse label, then the fine label we use
    l.num_classes = 100;
    l.names_file = "fine_label_names.txt";
  } else {
    fail("unknown CIFAR dataset '", name, "': expected cifar10 or cifar100");
  }
  return l;
}

CifarSource default_cifar_source(const std::string& name) {
  CifarSource s;
  if (name == "cifar10") {
    s.url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    s.md5 = "c32a1d4ab5d03f1284b67883e8d87530";
    s.size_bytes = 170052171;
  } else if (name == "cifar100") {
    s.url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
    s.md5 = "03b5dce01913d631647c71ecec9e9cb8";
  } else {
    fail("unknown CIFAR dataset '", name, "': expected cifar10 or cifar100");
  }
  return s;
}

CifarRecords read_cifar_files(const std::vector<std::string>& paths, int64_t records_per_file,
                              int label_bytes, int64_t num_classes) {
  FLATCLR_CHECK(!paths.empty() && records_per_file > 0, "no records to read: ", paths.size(), " files of ",
                records_per_file);
  FLATCLR_CHECK(label_bytes >= 1 && num_classes >= 1 && num_classes <= 256, "label_bytes ", label_bytes,
                " num_classes ", num_classes);
  const int64_t record_bytes = label_bytes + kCifarPixelBytes;
  const int64_t per_file = records_per_file;
  const int64_t n = static_cast<int64_t>(paths.size()) * per_file;
  at::Tensor raw = at::empty({n, record_bytes}, at::kByte);  // [N, label_bytes + 3072]
  for (size_t i = 0; i < paths.size(); ++i) {
    read_whole_file(paths[i], per_file, record_bytes,
                    raw.data_ptr<uint8_t>() + static_cast<int64_t>(i) * per_file * record_bytes);
  }
  at::Tensor labels = raw.select(1, label_bytes - 1).to(at::kLong).contiguous();
  at::Tensor bad = (labels >= num_classes).nonzero();
  if (bad.size(0) > 0) {
    const int64_t i = bad[0][0].item<int64_t>();
    fail(paths[static_cast<size_t>(i / per_file)], ": record ", i % per_file, " (byte offset ",
         (i % per_file) * record_bytes + label_bytes - 1, ") has label ", labels[i].item<int64_t>(),
         ", expected 0..", num_classes - 1, " (", bad.size(0),
         " bad records in all): corrupt file or the wrong "
         "dataset? delete the folder and run again to re-download");
  }
  at::Tensor images = raw.narrow(1, label_bytes, kCifarPixelBytes)
                          .contiguous()
                          .view({n, 3, kCifarImageSize, kCifarImageSize});
  return {images, labels};
}

std::vector<std::string> read_class_names(const std::string& path, int64_t num_classes,
                                          const std::vector<std::string>& fallback_names) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return fallback_names;
  std::ifstream in(path);
  if (!in) fail("cannot open ", path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) continue;
    const size_t last = line.find_last_not_of(" \t\r\n");
    names.push_back(line.substr(first, last - first + 1));
  }
  if (static_cast<int64_t>(names.size()) != num_classes) {
    fail(path, " lists ", names.size(), " class names, expected ", num_classes,
         ": corrupt file? delete the folder and run again to re-download");
  }
  return names;
}

Dataset load_cifar(const std::string& data_root, const std::string& name, bool train) {
  return load_cifar(data_root, cifar_layout(name), train);
}

Dataset load_cifar(const std::string& data_root, const CifarLayout& layout, bool train) {
  const fs::path dir = fs::path(data_root) / layout.folder;
  const auto& files = train ? layout.train_files : layout.test_files;
  std::vector<std::string> paths;
  for (const auto& f : files) {
    paths.push_back((dir / f).string());
    std::error_code ec;
    if (!fs::exists(paths.back(), ec)) {
      fail(paths.back(), " not found: ", layout.title, " (official binary version) is expected in ",
           dir.string(), "; ", manual_install_hint(data_root, layout, default_cifar_source(layout.name)));
    }
  }
  CifarRecords records =
      read_cifar_files(paths, train ? layout.train_records_per_file : layout.test_records_per_file,
                       layout.label_bytes, layout.num_classes);
  Dataset d;
  d.images = records.images;
  d.labels = records.labels;
  d.num_classes = layout.num_classes;
  d.name = layout.name;
  std::vector<std::string> fallback;
  if (layout.name == "cifar10" && layout.num_classes == 10) {
    fallback = kCifar10ClassNames;
  } else {
    for (int64_t c = 0; c < layout.num_classes; ++c) fallback.push_back(std::to_string(c));
  }
  d.class_names = read_class_names((dir / layout.names_file).string(), layout.num_classes, fallback);
  return d;
}

void ensure_cifar(const std::string& data_root, const std::string& name, const CifarSource& src) {
  const CifarLayout layout = cifar_layout(name);
  const fs::path root(data_root);
  const fs::path dir = root / layout.folder;
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    const auto missing = missing_files(dir, layout);
    if (missing.empty()) return;
    fail(dir.string(), " exists but lacks ", join(missing, ", "),
         ": an interrupted unpack? delete the folder ",
         "and run again to re-download (or unpack the archive again)");
  }
  if (src.url.empty() || src.md5.empty()) {
    fail(layout.title, " is not in ", dir.string(), " and no download URL and MD5 are configured for it");
  }
  if (!download_available()) {
    fail(layout.title, " is not in ", dir.string(),
         " and this flatclr was built without download support (libcurl, OpenSSL, libarchive); ",
         manual_install_hint(data_root, layout, src));
  }

  fs::create_directories(root, ec);
  if (ec) fail("cannot create the data folder ", data_root, ": ", ec.message());
  const fs::path archive = root / archive_file_name(src.url, layout);
  if (!fs::exists(archive, ec)) {  // an archive already there (placed by hand) is used as it is
    try {
      download_file(src.url, archive.string(), src.timeout_s);
    } catch (const UserError& e) {
      fail(layout.title, " is not in ", dir.string(), " and could not be downloaded: ", e.what(), "; ",
           manual_install_hint(data_root, layout, src));
    }
  }

  std::string expected_md5 = src.md5;
  std::transform(expected_md5.begin(), expected_md5.end(), expected_md5.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string actual_md5 = md5_file(archive.string());
  if (actual_md5 != expected_md5) {
    fs::remove(archive, ec);
    fail("MD5 mismatch for ", archive.string(), " (from ", src.url, "): got ", actual_md5, ", expected ",
         expected_md5,
         ". The archive was corrupt or incomplete and has been deleted; run again to download it "
         "again, or ",
         manual_install_hint(data_root, layout, src));
  }

  // Unpack beside the final folder, then move the dataset folder into place in one rename: an interrupted
  // or failed unpack never leaves a half-filled dataset folder behind.
  const fs::path staging = root / (".flatclr-unpack-" + layout.name + "-" + std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  try {
    extract_tar_gz(archive.string(), staging.string());
    const auto missing = missing_files(staging / layout.folder, layout);
    if (!missing.empty()) {
      fs::remove(archive, ec);
      fail("archive ", src.url, " does not hold ", layout.folder, "/", join(missing, ", "), ": not the ",
           layout.title, " binary version? it has been deleted");
    }
    fs::rename(staging / layout.folder, dir, ec);
    if (ec && !missing_files(dir, layout).empty()) {  // another process may have finished first
      fail("could not move the unpacked ", layout.folder, " to ", dir.string(), ": ", ec.message());
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  fs::remove_all(staging, ec);
  fs::remove(archive, ec);
  const auto missing = missing_files(dir, layout);
  if (!missing.empty())
    fail(dir.string(), " lacks ", join(missing, ", "), " after unpacking ", archive.string());
}

}  // namespace flatclr::data
