// Decoding one image file (JPEG or PNG, told apart by their magic bytes) to 8-bit RGB, as torchvision's
// ImageFolder loader does it (PIL: Image.open(path).convert("RGB")):
//   JPEG through libjpeg (Debian: libjpeg62-turbo), default settings as PIL (islow DCT, fancy upsampling), so
//        the pixels equal PIL's; grayscale is replicated into R, G, B; CMYK/YCCK (Adobe files store them
//        inverted) becomes RGB with PIL's formula r = 255 - k - c * (255 - k) / 255 (rounded as PIL does).
//   PNG  through libpng: palette expanded, grayscale replicated, alpha dropped (PIL's convert("RGB") drops
//        it too, no compositing), 16-bit samples cut to their high byte, 1/2/4-bit gray expanded.
// A file that cannot be decoded (unknown format, truncated, corrupt) raises UserError naming the path and
// the library's message. Without libjpeg or libpng at build time (FLATCLR_HAVE_JPEG / FLATCLR_HAVE_PNG), that
// format is an error that says so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flatclr::data {

// Images larger than this are refused before decoding (a tiny file can declare a huge size): PIL's limit,
// 2 x Image.MAX_IMAGE_PIXELS, above which it raises DecompressionBombError.
constexpr uint64_t kMaxImagePixels = 178956970;

struct DecodedImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3, HWC, channels R, G, B
};

// The file's bytes, decoded. UserError naming `path` when it cannot be read or decoded.
DecodedImage decode_image_file(const std::string& path);
// The same for bytes already in memory; `what` names them in messages (usually the path).
DecodedImage decode_image(const uint8_t* data, size_t size, const std::string& what);

// Which codecs this build has.
bool have_jpeg();
bool have_png();

}  // namespace flatclr::data
