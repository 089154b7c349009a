// Fetching, checking and unpacking dataset archives: HTTP(S) download with libcurl, MD5 (RFC 1321) with
// OpenSSL's EVP interface, .tar.gz extraction with libarchive. The real work is compiled only when CMake
// found all three libraries (FLATCLR_HAVE_DOWNLOAD); otherwise download_available() is false and every other
// function throws a UserError saying flatclr was built without download support.
#pragma once

#include <string>

namespace flatclr::data {

// True when flatclr was built with libcurl, OpenSSL and libarchive.
bool download_available();

// MD5 of a file's bytes, 32 lowercase hex digits. A file that cannot be read is a UserError.
std::string md5_file(const std::string& path);

// Downloads `url` (http or https, redirects followed) into `dest_path`: the bytes go to a temporary file in
// the same folder, renamed to dest_path once complete, so dest_path never holds a partial download. HTTP
// errors (404, ...), connection errors and a transfer that stalls for timeout_s seconds are UserErrors naming
// the URL; the temporary file is removed. Shows progress on stderr when stderr is a terminal.
void download_file(const std::string& url, const std::string& dest_path, int timeout_s);

// Unpacks a .tar.gz (or plain .tar) archive into dest_dir (created if needed). Only regular files and folders
// are accepted; an absolute path, a ".." component, a link or a device entry is a UserError (path traversal),
// raised before anything of that entry is written.
void extract_tar_gz(const std::string& archive, const std::string& dest_dir);

}  // namespace flatclr::data
