#include "flatclr/data/image_list.h"

#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <vector>

#include "flatclr/core/error.h"

namespace flatclr::data {

namespace fs = std::filesystem;

ImageFolderIndex select_listed(const ImageFolderIndex& index, const std::string& list_file) {
  std::ifstream in(list_file);
  if (!in) fail(list_file, ": cannot read the image list");
  std::unordered_map<std::string, int64_t> by_relative;
  std::unordered_map<std::string, std::vector<int64_t>> by_name;
  for (int64_t i = 0; i < index.size(); ++i) {
    const fs::path p(index.paths[i]);
    by_relative[p.lexically_relative(index.dir).generic_string()] = i;
    by_name[p.filename().string()].push_back(i);
  }
  std::vector<bool> keep(index.paths.size(), false);
  int64_t line_no = 0, listed = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const auto e = line.find_last_not_of(" \t\r");
    const std::string entry = line.substr(b, e - b + 1);
    int64_t found = -1;
    if (auto it = by_relative.find(fs::path(entry).lexically_normal().generic_string());
        it != by_relative.end()) {
      found = it->second;
    } else if (auto jt = by_name.find(entry); jt != by_name.end()) {
      if (jt->second.size() > 1) {
        fail(list_file, ":", line_no, ": ", entry, " names ", jt->second.size(), " images of ", index.dir,
             " (give the path relative to it, e.g. <class>/", entry, ")");
      }
      found = jt->second.front();
    }
    if (found < 0) {
      fail(list_file, ":", line_no, ": ", entry, " is not an image of ", index.dir,
           " (expected a path relative to that folder, or a file name in it)");
    }
    keep[found] = true;
    ++listed;
  }
  if (listed == 0) fail(list_file, ": the image list names no image");
  ImageFolderIndex out;
  out.dir = index.dir;
  out.class_names = index.class_names;
  for (int64_t i = 0; i < index.size(); ++i) {
    if (!keep[i]) continue;
    out.paths.push_back(index.paths[i]);
    out.labels.push_back(index.labels[i]);
  }
  return out;
}

}  // namespace flatclr::data
