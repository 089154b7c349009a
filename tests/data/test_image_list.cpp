// data/image_list: the images a list file names (relative paths or unique bare file names, as SimCLR's label
// lists), and errors that name the list file and line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "flatclr/core/error.h"
#include "flatclr/data/image_list.h"

namespace {

namespace fs = std::filesystem;
using flatclr::data::ImageFolderIndex;

// An index of <dir>/{a,b}/... without touching the disk (select_listed only reads the list file).
ImageFolderIndex index_of(const fs::path& dir) {
  ImageFolderIndex i;
  i.dir = dir.string();
  i.class_names = {"a", "b"};
  for (auto [rel, label] : std::vector<std::pair<std::string, int64_t>>{
           {"a/1.jpg", 0}, {"a/2.jpg", 0}, {"a/sub/same.png", 0}, {"b/3.jpg", 1}, {"b/same.png", 1}}) {
    i.paths.push_back((dir / rel).string());
    i.labels.push_back(label);
  }
  return i;
}

fs::path write_list(const std::string& text) {
  const auto p = fs::temp_directory_path() / ("flatclr_list_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const ImageFolderIndex& index, const fs::path& list) {
  try {
    flatclr::data::select_listed(index, list.string());
  } catch (const flatclr::UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ImageList, RelativePathsAndBareNamesSelectImagesInIndexOrder) {
  const auto index = index_of("/data/ds/train");
  const auto list = write_list("# the labelled images\nb/3.jpg\n\n  1.jpg  \r\na/sub/same.png\nb/3.jpg\n");
  const auto out = flatclr::data::select_listed(index, list.string());
  ASSERT_EQ(out.size(), 3);
  EXPECT_EQ(out.paths, (std::vector<std::string>{"/data/ds/train/a/1.jpg", "/data/ds/train/a/sub/same.png",
                                                 "/data/ds/train/b/3.jpg"}));
  EXPECT_EQ(out.labels, (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(out.class_names, index.class_names);
  fs::remove(list);
}

TEST(ImageList, UnknownAmbiguousAndEmptyListsNameTheFileAndLine) {
  const auto index = index_of("/data/ds/train");
  auto list = write_list("a/1.jpg\nmissing.jpg\n");
  auto msg = error_of(index, list);
  EXPECT_NE(msg.find(list.string() + ":2: missing.jpg is not an image of /data/ds/train"), std::string::npos)
      << msg;
  list = write_list("same.png\n");
  msg = error_of(index, list);
  EXPECT_NE(msg.find(":1: same.png names 2 images"), std::string::npos) << msg;
  list = write_list("# nothing\n\n");
  msg = error_of(index, list);
  EXPECT_NE(msg.find("names no image"), std::string::npos) << msg;
  fs::remove(list);
  msg = error_of(index, "/nonexistent/list.txt");
  EXPECT_NE(msg.find("/nonexistent/list.txt: cannot read"), std::string::npos) << msg;
}
