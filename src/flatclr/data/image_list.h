// Image lists: a text file naming a subset of an image-folder split, one image per line, as the SimCLR 1% and
// 10% ImageNet label lists are. A line is a path relative to the split folder ("n01440764/x.JPEG") or a bare
// file name ("n01440764_10026.JPEG", the SimCLR lists' form), which must then name exactly one image of the
// split. Blank lines and lines starting with '#' are skipped; surrounding spaces are ignored; an image listed
// twice is kept once.
#pragma once

#include <string>

#include "flatclr/data/image_folder.h"

namespace flatclr::data {

// The images of `index` named by `list_file`, in the index's order, classes unchanged. UserError naming the
// file and line for an entry that matches no image (or, as a bare name, several), and for an empty list.
ImageFolderIndex select_listed(const ImageFolderIndex& index, const std::string& list_file);

}  // namespace flatclr::data
