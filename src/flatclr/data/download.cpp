#include "flatclr/data/download.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flatclr/core/error.h"

#ifdef FLATCLR_HAVE_DOWNLOAD
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>
#endif

namespace flatclr::data {

namespace fs = std::filesystem;

#ifdef FLATCLR_HAVE_DOWNLOAD

namespace {

// Removes a file when it goes out of scope unless release()d: no partial download is left behind.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

struct Transfer {
  std::FILE* file = nullptr;
  bool write_failed = false;
  std::string label;  // what the progress line shows
  std::chrono::steady_clock::time_point last_print{};
  bool printed = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (std::fwrite(data, 1, n, t->file) != n) {
    t->write_failed = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  return n;
}

int show_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  const auto clock = std::chrono::steady_clock::now();
  if (t->printed && clock - t->last_print < std::chrono::milliseconds(250) && (total <= 0 || now < total)) {
    return 0;
  }
  t->last_print = clock;
  t->printed = true;
  const double mb = 1.0 / (1024.0 * 1024.0);
  if (total > 0) {
    std::fprintf(stderr, "\r%s: %.1f / %.1f MiB (%3d%%)", t->label.c_str(), now * mb, total * mb,
                 static_cast<int>(100 * now / total));
  } else {
    std::fprintf(stderr, "\r%s: %.1f MiB", t->label.c_str(), now * mb);
  }
  std::fflush(stderr);
  return 0;
}

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) fail("libcurl could not be initialised: ", curl_easy_strerror(rc));
  });
}

// An entry name that would land outside the destination folder.
bool escapes_destination(const std::string& name) {
  if (name.empty() || name.front() == '/') return true;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

void copy_entry_data(archive* in, archive* out, const std::string& archive_path, const fs::path& target) {
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int rc;
  while ((rc = archive_read_data_block(in, &block, &size, &offset)) == ARCHIVE_OK) {
    if (archive_write_data_block(out, block, size, offset) < ARCHIVE_OK) {
      fail("could not write ", target.string(), " while unpacking ", archive_path, ": ",
           archive_error_string(out));
    }
  }
  if (rc != ARCHIVE_EOF) {
    fail("archive ", archive_path, " is corrupt or truncated (", archive_error_string(in),
         "): delete it and download it again");
  }
}

}  // namespace

bool download_available() { return true; }

std::string md5_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail("cannot open ", path, " to compute its MD5: ", std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) != 1) {
    fail("OpenSSL refused to compute an MD5 (a FIPS-only configuration?) for ", path);
  }
  std::vector<unsigned char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    FLATCLR_CHECK(EVP_DigestUpdate(ctx.get(), buffer.data(), n) == 1, "EVP_DigestUpdate failed");
  }
  if (std::ferror(file.get())) fail("read error in ", path, " while computing its MD5");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  FLATCLR_CHECK(EVP_DigestFinal_ex(ctx.get(), digest, &length) == 1 && length == 16, "EVP_DigestFinal_ex");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

void download_file(const std::string& url, const std::string& dest_path, int timeout_s) {
  FLATCLR_CHECK(timeout_s > 0, "timeout_s must be positive: ", timeout_s);
  init_curl_once();
  const fs::path dest(dest_path);
  std::error_code ec;
  if (dest.has_parent_path()) fs::create_directories(dest.parent_path(), ec);
  fs::path partial = dest;
  partial += ".part" + std::to_string(::getpid());

  Transfer transfer;
  transfer.label = "downloading " + url;
  RemoveOnExit cleanup(partial);  // declared first: runs after the file is closed
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(partial.c_str(), "wb"), &std::fclose);
  if (!file)
    fail("cannot create ", partial.string(), " for the download of ", url, ": ", std::strerror(errno));
  transfer.file = file.get();

  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  FLATCLR_CHECK(curl != nullptr, "curl_easy_init failed");
  char error_text[CURL_ERROR_SIZE] = "";
  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string forms replace the deprecated bit masks
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, not a body to save
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "flatclr");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeout_s));
  // No limit on the whole transfer (170 MB on a slow line is fine); fail when it stalls instead.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(timeout_s));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  if (::isatty(STDERR_FILENO)) {
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &show_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }

  const CURLcode rc = curl_easy_perform(h);
  long http_status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http_status);
  if (transfer.printed) std::fputc('\n', stderr);
  const bool close_failed = std::fclose(file.release()) != 0;

  if (transfer.write_failed || close_failed) {
    fail("could not write ", partial.string(), " while downloading ", url, " (disk full or not writable?)");
  }
  if (rc == CURLE_HTTP_RETURNED_ERROR) {
    fail("download of ", url, " failed: the server answered HTTP ", http_status,
         http_status == 404 ? " (not found: check the URL)" : "");
  }
  if (rc != CURLE_OK) {
    const char* reason = error_text[0] != '\0' ? error_text : curl_easy_strerror(rc);
    const char* hint = "";
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_COULDNT_RESOLVE_PROXY) {
      hint = " (no network, or the server is down?)";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      hint = " (the connection timed out or stalled)";
    }
    fail("download of ", url, " failed: ", reason, hint);
  }
  fs::rename(partial, dest, ec);
  if (ec) fail("could not move ", partial.string(), " to ", dest.string(), ": ", ec.message());
  cleanup.release();
}

void extract_tar_gz(const std::string& archive_path, const std::string& dest_dir) {
  std::error_code ec;
  fs::create_directories(dest_dir, ec);
  if (ec) fail("cannot create ", dest_dir, " to unpack ", archive_path, ": ", ec.message());
  // Entries are written below the resolved folder: no '..' or symbolic link in it for libarchive's checks
  // to trip over (a data root may well be a link to another disk).
  const fs::path dest = fs::weakly_canonical(fs::absolute(dest_dir), ec);
  if (ec) fail("cannot resolve ", dest_dir, ": ", ec.message());

  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), &archive_read_free);
  FLATCLR_CHECK(in != nullptr, "archive_read_new failed");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    fail("cannot open archive ", archive_path, ": ", archive_error_string(in.get()));
  }
  std::unique_ptr<archive, int (*)(archive*)> out(archive_write_disk_new(), &archive_write_free);
  FLATCLR_CHECK(out != nullptr, "archive_write_disk_new failed");
  // Our own checks below give the clear message; libarchive's refuse the same things a second time.
  archive_write_disk_set_options(out.get(),
                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT);

  archive_entry* entry = nullptr;
  while (true) {
    const int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      fail("archive ", archive_path, " is corrupt or truncated (", archive_error_string(in.get()),
           "): delete it and download it again");
    }
    const char* raw_name = archive_entry_pathname(entry);
    const std::string name = raw_name ? raw_name : "";
    if (escapes_destination(name)) {
      fail("archive ", archive_path, " holds the entry '", name, "', which would be written outside ",
           dest_dir, " (absolute path or '..'): refusing to unpack it");
    }
    const auto type = archive_entry_filetype(entry);
    if ((type != AE_IFREG && type != AE_IFDIR) || archive_entry_hardlink(entry) != nullptr) {
      fail("archive ", archive_path, " holds '", name,
           "', which is a link or special file: only regular files and folders are unpacked");
    }
    const fs::path target = dest / name;
    archive_entry_set_pathname(entry, target.c_str());
    if (archive_write_header(out.get(), entry) < ARCHIVE_WARN) {
      fail("could not create ", target.string(), " while unpacking ", archive_path, ": ",
           archive_error_string(out.get()));
    }
    if (type == AE_IFREG) copy_entry_data(in.get(), out.get(), archive_path, target);
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      fail("could not finish ", target.string(), " while unpacking ", archive_path, ": ",
           archive_error_string(out.get()));
    }
  }
  if (archive_write_close(out.get()) < ARCHIVE_WARN) {
    fail("could not finish unpacking ", archive_path, " into ", dest_dir, ": ",
         archive_error_string(out.get()));
  }
}

#else  // !FLATCLR_HAVE_DOWNLOAD

namespace {
[[noreturn]] void no_download_support(const char* what) {
  fail(
      "flatclr was built without download support (libcurl, OpenSSL and libarchive were not all found by "
      "CMake), so it cannot ",
      what, ": install them (Debian: libcurl4-openssl-dev libssl-dev libarchive-dev) and rebuild");
}
}  // namespace

bool download_available() { return false; }
std::string md5_file(const std::string&) { no_download_support("compute MD5 sums"); }
void download_file(const std::string&, const std::string&, int) { no_download_support("download files"); }
void extract_tar_gz(const std::string&, const std::string&) { no_download_support("unpack archives"); }

#endif

}  // namespace flatclr::data
