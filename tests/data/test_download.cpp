#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "flatclr/core/error.h"
#include "flatclr/data/cifar.h"
#include "flatclr/data/download.h"

namespace {

namespace fs = std::filesystem;
using flatclr::UserError;
using namespace flatclr::data;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "flatclr-test-download-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Names of the entries directly in `dir`.
std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "<no UserError>";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string kTarName = "cifar-10-binary.tar.gz";

// Small files under the official CIFAR-10 names: 2 records each, so load_cifar with a 2-record layout reads
// them.
std::map<std::string, std::string> cifar10_files(bool with_test = true) {
  std::map<std::string, std::string> files;
  std::vector<std::string> names = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                    "data_batch_4.bin", "data_batch_5.bin"};
  if (with_test) names.push_back("test_batch.bin");
  for (size_t f = 0; f < names.size(); ++f) {
    std::string bytes;
    for (int r = 0; r < 2; ++r) {
      bytes.push_back(static_cast<char>((f + r) % 10));
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<char>((i * 13 + f * 7 + r) % 256));
    }
    files[names[f]] = bytes;
  }
  files["batches.meta.txt"] = "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n\n";
  return files;
}

// tar czf of <folder>/<files> made with the system's tar, returned as bytes.
std::string make_tar_gz(const std::map<std::string, std::string>& files,
                        const std::string& folder = "cifar-10-batches-bin") {
  TempDir tmp;
  for (const auto& [name, bytes] : files) write_file(tmp.path() / "src" / folder / name, bytes);
  const fs::path archive = tmp.path() / "a.tar.gz";
  const std::string cmd =
      "tar czf '" + archive.string() + "' -C '" + (tmp.path() / "src").string() + "' " + folder;
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  return read_file(archive);
}

// A port on 127.0.0.1 where nothing listens (bound by the kernel, then released).
int unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

using Files = std::map<std::string, std::string>;  // URL path -> body

// A minimal HTTP/1.0 server on 127.0.0.1 (kernel-chosen port) serving `files` by path, 404 otherwise.
// Paths in `lie_about_length` announce more bytes than they send, then close (a cut connection).
class LocalHttpServer {
 public:
  explicit LocalHttpServer(std::map<std::string, std::string> files,
                           std::set<std::string> lie_about_length = {})
      : files_(std::move(files)), lie_(std::move(lie_about_length)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 8) != 0) {
      throw std::runtime_error("bind/listen");
    }
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      handle(client);
      ::close(client);
    }
  }

  void handle(int client) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      const ssize_t n = ::recv(client, buf, sizeof(buf), 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    ++requests_;
    // "GET /path HTTP/1.1"
    const size_t a = request.find(' ');
    const size_t b = request.find(' ', a + 1);
    const std::string path = request.substr(a + 1, b - a - 1);
    const auto it = files_.find(path);
    std::string response;
    if (request.compare(0, 4, "GET ") != 0 || it == files_.end()) {
      const std::string body = "not found\n";
      response = "HTTP/1.0 404 Not Found\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\nConnection: close\r\n\r\n" + body;
    } else {
      const size_t announced = it->second.size() + (lie_.count(path) ? 100000 : 0);
      response = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                 std::to_string(announced) + "\r\nConnection: close\r\n\r\n" + it->second;
    }
    size_t sent = 0;
    while (sent < response.size()) {
      const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  std::map<std::string, std::string> files_;
  std::set<std::string> lie_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

CifarLayout two_record_cifar10() {
  CifarLayout l = cifar_layout("cifar10");
  l.train_records_per_file = 2;
  l.test_records_per_file = 2;
  return l;
}

// Works with or without download support: a complete folder needs no network.
TEST(Download, EnsureCifarWithCompleteFolderDoesNothing) {
  TempDir tmp;
  for (const auto& [name, bytes] : cifar10_files())
    write_file(tmp.path() / "cifar-10-batches-bin" / name, bytes);
  CifarSource src = default_cifar_source("cifar10");
  src.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/" + kTarName;
  EXPECT_NO_THROW(ensure_cifar(tmp.path().string(), "cifar10", src));
  EXPECT_EQ(entries(tmp.path()), (std::set<std::string>{"cifar-10-batches-bin"}));
}

TEST(Download, EnsureCifarWithIncompleteFolderNamesMissingFiles) {
  TempDir tmp;
  auto files = cifar10_files();
  files.erase("data_batch_3.bin");
  files.erase("test_batch.bin");
  for (const auto& [name, bytes] : files) write_file(tmp.path() / "cifar-10-batches-bin" / name, bytes);
  const std::string msg = error_of([&] { ensure_cifar(tmp.path().string(), "cifar10"); });
  EXPECT_TRUE(contains(msg, "data_batch_3.bin")) << msg;
  EXPECT_TRUE(contains(msg, "test_batch.bin")) << msg;
  EXPECT_TRUE(contains(msg, "delete the folder")) << msg;
  EXPECT_EQ(entries(tmp.path() / "cifar-10-batches-bin").size(), files.size());  // nothing deleted
}

#ifdef FLATCLR_HAVE_DOWNLOAD

TEST(Download, Available) { EXPECT_TRUE(download_available()); }

TEST(Download, Md5KnownAnswers) {
  TempDir tmp;
  const auto md5_of = [&](const std::string& bytes) {
    write_file(tmp.path() / "f", bytes);
    return md5_file((tmp.path() / "f").string());
  };
  // RFC 1321, appendix A.5.
  EXPECT_EQ(md5_of(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_of("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_of("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_of("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
  // A million 'a' (a classic test vector), then 3 MB (several 1 MiB read chunks) against the md5sum tool.
  EXPECT_EQ(md5_of(std::string(1000000, 'a')), "7707d6ae4e027c70eea2a935c2296f21");
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string ours = md5_of(big);
  FILE* p = ::popen(("md5sum '" + (tmp.path() / "f").string() + "'").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[33] = {0};
  ASSERT_EQ(std::fread(out, 1, 32, p), 32u);
  ::pclose(p);
  EXPECT_EQ(ours, std::string(out));

  const std::string msg = error_of([&] { md5_file((tmp.path() / "missing").string()); });
  EXPECT_TRUE(contains(msg, "missing")) << msg;
}

TEST(Download, DownloadFileWritesTheBytes) {
  TempDir tmp;
  std::string body(200000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + 3);
  LocalHttpServer server(Files{{"/data/x.bin", body}});
  const fs::path dest = tmp.path() / "sub" / "x.bin";
  download_file(server.url("/data/x.bin"), dest.string(), 10);
  EXPECT_EQ(read_file(dest), body);
  EXPECT_EQ(entries(dest.parent_path()), (std::set<std::string>{"x.bin"}));  // no temporary file left
}

TEST(Download, HttpErrorNamesTheUrl) {
  TempDir tmp;
  LocalHttpServer server(Files{{"/a", "a"}});
  const std::string url = server.url("/nope.tar.gz");
  const std::string msg = error_of([&] { download_file(url, (tmp.path() / "x").string(), 10); });
  EXPECT_TRUE(contains(msg, url)) << msg;
  EXPECT_TRUE(contains(msg, "404")) << msg;
  EXPECT_TRUE(entries(tmp.path()).empty());
}

TEST(Download, UnreachableServerIsAClearError) {
  TempDir tmp;
  const std::string url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/x.tar.gz";
  const std::string msg = error_of([&] { download_file(url, (tmp.path() / "x").string(), 10); });
  EXPECT_TRUE(contains(msg, url)) << msg;
  EXPECT_TRUE(contains(msg, "connect")) << msg;
  EXPECT_TRUE(entries(tmp.path()).empty());
}

TEST(Download, CutConnectionLeavesNoFile) {
  TempDir tmp;
  LocalHttpServer server(Files{{"/x", std::string(5000, 'x')}}, {"/x"});
  const std::string msg = error_of([&] { download_file(server.url("/x"), (tmp.path() / "x").string(), 10); });
  EXPECT_TRUE(contains(msg, server.url("/x"))) << msg;
  EXPECT_TRUE(entries(tmp.path()).empty());
}

TEST(Download, ExtractTarGz) {
  TempDir tmp;
  const auto files = cifar10_files();
  write_file(tmp.path() / "a.tar.gz", make_tar_gz(files));
  extract_tar_gz((tmp.path() / "a.tar.gz").string(), (tmp.path() / "out").string());
  EXPECT_EQ(entries(tmp.path() / "out"), (std::set<std::string>{"cifar-10-batches-bin"}));
  for (const auto& [name, bytes] : files) {
    EXPECT_EQ(read_file(tmp.path() / "out" / "cifar-10-batches-bin" / name), bytes) << name;
  }
  // Not an archive at all.
  write_file(tmp.path() / "junk.tar.gz", std::string(5000, 'j'));
  EXPECT_THROW(extract_tar_gz((tmp.path() / "junk.tar.gz").string(), (tmp.path() / "out2").string()),
               UserError);
  // Truncated archive.
  const std::string whole = make_tar_gz(files);
  write_file(tmp.path() / "cut.tar.gz", whole.substr(0, whole.size() / 2));
  EXPECT_THROW(extract_tar_gz((tmp.path() / "cut.tar.gz").string(), (tmp.path() / "out3").string()),
               UserError);
}

TEST(Download, ExtractRefusesPathTraversal) {
  TempDir tmp;
  const fs::path work = tmp.path() / "work";
  fs::create_directories(work / "inner");
  write_file(tmp.path() / "escaped.txt", "relative escape");
  write_file(tmp.path() / "absolute.txt", "absolute escape");
  // -P keeps '..' and a leading '/' in member names, as a hostile archive would have them.
  const std::string rel = "tar czPf '" + (tmp.path() / "rel.tar.gz").string() + "' -C '" +
                          (work / "inner").string() + "' ../../escaped.txt";
  const std::string abs = "tar czPf '" + (tmp.path() / "abs.tar.gz").string() + "' '" +
                          (tmp.path() / "absolute.txt").string() + "'";
  ASSERT_EQ(std::system(rel.c_str()), 0);
  ASSERT_EQ(std::system(abs.c_str()), 0);
  fs::remove(tmp.path() / "escaped.txt");
  fs::remove(tmp.path() / "absolute.txt");

  const fs::path dest = work / "inner";
  std::string msg = error_of([&] { extract_tar_gz((tmp.path() / "rel.tar.gz").string(), dest.string()); });
  EXPECT_TRUE(contains(msg, "../../escaped.txt")) << msg;
  EXPECT_TRUE(contains(msg, "outside")) << msg;
  EXPECT_FALSE(fs::exists(tmp.path() / "escaped.txt"));
  msg = error_of([&] { extract_tar_gz((tmp.path() / "abs.tar.gz").string(), dest.string()); });
  EXPECT_TRUE(contains(msg, "absolute.txt")) << msg;
  EXPECT_FALSE(fs::exists(tmp.path() / "absolute.txt"));

  // A symbolic link (a file written through it later could land anywhere).
  fs::create_directories(work / "linked");
  fs::create_directory_symlink("/tmp", work / "linked" / "ln");
  const std::string sym =
      "tar czf '" + (tmp.path() / "sym.tar.gz").string() + "' -C '" + work.string() + "' linked";
  ASSERT_EQ(std::system(sym.c_str()), 0);
  msg = error_of([&] { extract_tar_gz((tmp.path() / "sym.tar.gz").string(), (tmp.path() / "o").string()); });
  EXPECT_TRUE(contains(msg, "link")) << msg;
  EXPECT_FALSE(fs::exists(tmp.path() / "o" / "linked" / "ln"));
}

TEST(Download, EnsureCifarDownloadsChecksAndUnpacks) {
  TempDir tmp;
  const auto files = cifar10_files();
  const std::string tarball = make_tar_gz(files);
  write_file(tmp.path() / "tarball", tarball);
  LocalHttpServer server(Files{{"/mirror/" + kTarName, tarball}});
  CifarSource src;
  src.url = server.url("/mirror/" + kTarName);
  src.md5 = md5_file((tmp.path() / "tarball").string());
  src.timeout_s = 10;
  const fs::path root = tmp.path() / "datasets";
  ensure_cifar(root.string(), "cifar10", src);
  EXPECT_EQ(server.requests(), 1);
  // Only the dataset folder is left: no archive, no staging folder.
  EXPECT_EQ(entries(root), (std::set<std::string>{"cifar-10-batches-bin"}));
  for (const auto& [name, bytes] : files)
    EXPECT_EQ(read_file(root / "cifar-10-batches-bin" / name), bytes) << name;
  const Dataset d = load_cifar(root.string(), two_record_cifar10(), true);
  EXPECT_EQ(d.images.size(0), 10);
  EXPECT_EQ(d.class_names[3], "c3");
  // A second call finds everything in place and does not download.
  ensure_cifar(root.string(), "cifar10", src);
  EXPECT_EQ(server.requests(), 1);
}

TEST(Download, EnsureCifarMd5MismatchLeavesNothing) {
  TempDir tmp;
  const std::string tarball = make_tar_gz(cifar10_files());
  LocalHttpServer server(Files{{"/" + kTarName, tarball}});
  CifarSource src;
  src.url = server.url("/" + kTarName);
  src.md5 = "0123456789abcdef0123456789abcdef";
  const fs::path root = tmp.path() / "datasets";
  const std::string msg = error_of([&] { ensure_cifar(root.string(), "cifar10", src); });
  EXPECT_TRUE(contains(msg, "MD5 mismatch")) << msg;
  EXPECT_TRUE(contains(msg, "0123456789abcdef0123456789abcdef")) << msg;
  write_file(tmp.path() / "tarball", tarball);
  EXPECT_TRUE(contains(msg, md5_file((tmp.path() / "tarball").string()))) << msg;
  EXPECT_TRUE(entries(root).empty()) << "left behind: " << *entries(root).begin();
}

TEST(Download, EnsureCifar404SaysWhatToPutWhere) {
  TempDir tmp;
  LocalHttpServer server(Files{});
  CifarSource src = default_cifar_source("cifar10");
  src.url = server.url("/" + kTarName);
  const fs::path root = tmp.path() / "datasets";
  const std::string msg = error_of([&] { ensure_cifar(root.string(), "cifar10", src); });
  EXPECT_TRUE(contains(msg, src.url)) << msg;
  EXPECT_TRUE(contains(msg, "404")) << msg;
  EXPECT_TRUE(contains(msg, "c32a1d4ab5d03f1284b67883e8d87530")) << msg;
  EXPECT_TRUE(contains(msg, (root / kTarName).string())) << msg;
  EXPECT_TRUE(contains(msg, "tar xzf " + kTarName + " -C " + root.string())) << msg;
  EXPECT_TRUE(contains(msg, (root / "cifar-10-batches-bin" / "data_batch_1.bin").string())) << msg;
  EXPECT_TRUE(entries(root).empty());
}

TEST(Download, EnsureCifarOfflineUsesAnArchivePlacedByHand) {
  TempDir tmp;
  const auto files = cifar10_files();
  const std::string tarball = make_tar_gz(files);
  const fs::path root = tmp.path() / "datasets";
  write_file(root / kTarName, tarball);
  CifarSource src;
  src.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/" + kTarName;  // nothing listens
  src.md5 = md5_file((root / kTarName).string());
  ensure_cifar(root.string(), "cifar10", src);
  EXPECT_EQ(entries(root), (std::set<std::string>{"cifar-10-batches-bin"}));

  // Without the archive and without a server: the download error and the manual recipe.
  TempDir other;
  const std::string msg = error_of([&] { ensure_cifar(other.path().string(), "cifar10", src); });
  EXPECT_TRUE(contains(msg, "could not be downloaded")) << msg;
  EXPECT_TRUE(contains(msg, src.url)) << msg;
  EXPECT_TRUE(contains(msg, "connect")) << msg;
  EXPECT_TRUE(entries(other.path()).empty());
}

TEST(Download, EnsureCifarRejectsArchiveWithoutTheDataset) {
  TempDir tmp;
  const std::string tarball = make_tar_gz(cifar10_files(/*with_test=*/false));
  write_file(tmp.path() / "tarball", tarball);
  LocalHttpServer server(Files{{"/" + kTarName, tarball}});
  CifarSource src;
  src.url = server.url("/" + kTarName);
  src.md5 = md5_file((tmp.path() / "tarball").string());
  const fs::path root = tmp.path() / "datasets";
  const std::string msg = error_of([&] { ensure_cifar(root.string(), "cifar10", src); });
  EXPECT_TRUE(contains(msg, "test_batch.bin")) << msg;
  EXPECT_TRUE(entries(root).empty());
}

TEST(Download, EnsureCifarRefusesHostileArchive) {
  TempDir tmp;
  write_file(tmp.path() / "w" / "x" / "evil.txt", "x");
  const std::string cmd = "tar czPf '" + (tmp.path() / "evil.tar.gz").string() + "' -C '" +
                          (tmp.path() / "w" / "x").string() + "' ../x/evil.txt";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string tarball = read_file(tmp.path() / "evil.tar.gz");
  LocalHttpServer server(Files{{"/" + kTarName, tarball}});
  CifarSource src;
  src.url = server.url("/" + kTarName);
  src.md5 = md5_file((tmp.path() / "evil.tar.gz").string());
  const fs::path root = tmp.path() / "datasets";
  const std::string msg = error_of([&] { ensure_cifar(root.string(), "cifar10", src); });
  EXPECT_TRUE(contains(msg, "outside")) << msg;
  EXPECT_FALSE(fs::exists(root / "x"));
  // The staging folder is gone; the (verified) archive stays for inspection.
  EXPECT_EQ(entries(root), (std::set<std::string>{kTarName}));
}

#else  // !FLATCLR_HAVE_DOWNLOAD

TEST(Download, WithoutSupportSaysWhatToPutWhere) {
  EXPECT_FALSE(download_available());
  TempDir tmp;
  const fs::path root = tmp.path() / "datasets";
  const std::string msg = error_of([&] { ensure_cifar(root.string(), "cifar10"); });
  EXPECT_TRUE(contains(msg, "without download support")) << msg;
  EXPECT_TRUE(contains(msg, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")) << msg;
  EXPECT_TRUE(contains(msg, "c32a1d4ab5d03f1284b67883e8d87530")) << msg;
  EXPECT_TRUE(contains(msg, "tar xzf cifar-10-binary.tar.gz -C " + root.string())) << msg;
  EXPECT_TRUE(contains(msg, (root / "cifar-10-batches-bin" / "data_batch_1.bin").string())) << msg;
  EXPECT_THROW(md5_file("/etc/hostname"), UserError);
  EXPECT_THROW(download_file("http://127.0.0.1:1/x", (tmp.path() / "x").string(), 5), UserError);
  EXPECT_THROW(extract_tar_gz("/nonexistent.tar.gz", tmp.path().string()), UserError);
}

#endif

}  // namespace
