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
// min_short_side > 0 lets a JPEG be decoded smaller, in the DCT domain (libjpeg's scale_num / 8 with the
// factors of PIL's Image.draft, 1/2, 1/4, 1/8): by the smallest that keeps the shorter side at least
// min_short_side (jpeg_scale_eighths). Faster on a large file whose next step shrinks it anyway (Resize(256)
// of a 1200x900 file: 2-2.8x per image read, bench_data_pipeline --sizing), but not PIL's pixels: a later
// Resize(256) + CenterCrop(224) differs from the full decode's by about half a grey level on average on
// photo-like files (tests/data/test_image_decode.cpp states the bound), more on noise-heavy ones. PNGs, and
// JPEGs already small enough, are decoded at full size.
DecodedImage decode_image_file(const std::string& path, int64_t min_short_side = 0);
// The same for bytes already in memory; `what` names them in messages (usually the path).
DecodedImage decode_image(const uint8_t* data, size_t size, const std::string& what,
                          int64_t min_short_side = 0);

// The DCT scaling numerator M of 1, 2, 4, 8 (decode at M/8 of each side) for a height x width JPEG: the
// smallest whose scaled shorter side, ceil(side * M / 8) as libjpeg rounds, is still >= min_short_side; 8
// (full size) when min_short_side <= 0 or the image is no larger. libjpeg also offers 3/8, 5/8, ...; they are
// not used: on the unit test's textured files their crops were 3.7 (500x375 at 6/8) and 6.6 (1200x900 at 3/8)
// grey levels from the full decode's on average, against 0.44 at 1/2 (probably because their scaled sides are
// fractional, 900 x 3/8 = 337.5, which shifts the resized image by part of a pixel; not verified).
int jpeg_scale_eighths(int64_t height, int64_t width, int64_t min_short_side);

// Which codecs this build has.
bool have_jpeg();
bool have_png();

}  // namespace flatclr::data
