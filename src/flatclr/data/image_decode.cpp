#include "flatclr/data/image_decode.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "flatclr/core/error.h"

#ifdef FLATCLR_HAVE_JPEG
// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>
#endif
#ifdef FLATCLR_HAVE_PNG
#include <png.h>
#endif

namespace flatclr::data {

namespace {

// A file's header can declare any size: a few hundred bytes can claim a 64525 x 12791 image (found by
// fuzz_image_decode), which would take gigabytes and a minute to decode. Such images are refused before
// anything is allocated; the limit is PIL's (Image.open raises DecompressionBombError above it).
bool too_many_pixels(uint64_t width, uint64_t height, char* message, size_t size) {
  if (width * height <= kMaxImagePixels) return false;
  std::snprintf(
      message, size,
      "%llu x %llu = %llu pixels, more than the %llu that flatclr decodes (PIL's decompression-bomb limit)",
      static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
      static_cast<unsigned long long>(width * height), static_cast<unsigned long long>(kMaxImagePixels));
  return true;
}

bool is_jpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }
bool is_png(const uint8_t* d, size_t n) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  return n >= 8 && std::memcmp(d, sig, 8) == 0;
}

// PIL's MULDIV255: a * b / 255 rounded, in integers.
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

#ifdef FLATCLR_HAVE_JPEG
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are ignored (as PIL does: extraneous bytes and the like), except a premature end of the data:
// PIL refuses truncated files ("image file is truncated"), and so does flatclr.
void jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_error_exit(cinfo);
}

// Huffman-coded JPEG data spends at least one bit on every 8x8 block of a component: each block's DC
// coefficient is coded, and the shortest Huffman code is one bit (progressive scans too). A file smaller than
// that for the component with the fewest blocks cannot hold the image it declares; libjpeg would still
// "decode" it, filling the missing rows with gray, which for a 151-byte file claiming 65293 x 2304 pixels
// takes seconds (found by fuzz_image_decode). Such a file is refused as corrupt before anything is allocated.
// Arithmetic coding can spend less than a bit per block, so it is not checked.
bool too_little_data(const jpeg_decompress_struct& cinfo, size_t size, char* message, size_t message_size) {
  if (cinfo.arith_code || cinfo.num_components <= 0) return false;
  uint64_t fewest = UINT64_MAX;
  for (int c = 0; c < cinfo.num_components; ++c) {
    const auto& comp = cinfo.comp_info[c];
    fewest = std::min<uint64_t>(fewest, static_cast<uint64_t>(comp.width_in_blocks) * comp.height_in_blocks);
  }
  const uint64_t needed = fewest / 8;
  if (size >= needed) return false;
  std::snprintf(
      message, message_size,
      "the file's %zu bytes cannot hold the %u x %u image it declares: its %llu blocks need at least "
      "%llu bytes; the file is truncated or corrupt",
      size, cinfo.image_width, cinfo.image_height, static_cast<unsigned long long>(fewest),
      static_cast<unsigned long long>(needed));
  return true;
}

// Runs the decode; returns false with err->message set on a libjpeg error. Only trivially destructible locals
// live between setjmp and a longjmp (the output vector belongs to the caller).
bool decode_jpeg_into(const uint8_t* data, size_t size, int64_t min_short_side, DecodedImage& out,
                      JpegError& err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_emit_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (too_many_pixels(cinfo.image_width, cinfo.image_height, err.message, sizeof err.message)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  if (too_little_data(cinfo, size, err.message, sizeof err.message)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  // Adobe writes CMYK inverted; PIL reads such files as "CMYK;I".
  const bool inverted = cmyk && cinfo.saw_Adobe_marker;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // grayscale -> RGB is done by libjpeg (replication)
  cinfo.scale_num =
      static_cast<unsigned>(jpeg_scale_eighths(cinfo.image_height, cinfo.image_width, min_short_side));
  cinfo.scale_denom = 8;
  jpeg_start_decompress(&cinfo);
  const int64_t h = cinfo.output_height, w = cinfo.output_width;
  const int comps = cinfo.output_components;
  out.height = h;
  out.width = w;
  out.pixels.resize(static_cast<size_t>(h * w * 3));
  if (!cmyk) {
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * w * 3;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
  } else {
    // One CMYK row at a time in the tail of a scratch line allocated by libjpeg (freed with cinfo).
    JSAMPARRAY scratch = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE,
                                                    static_cast<JDIMENSION>(w * comps), 1);
    while (cinfo.output_scanline < cinfo.output_height) {
      uint8_t* dst = out.pixels.data() + static_cast<size_t>(cinfo.output_scanline) * w * 3;
      jpeg_read_scanlines(&cinfo, scratch, 1);
      const uint8_t* src = scratch[0];
      for (int64_t x = 0; x < w; ++x, src += 4, dst += 3) {
        int c = src[0], m = src[1], y = src[2], k = src[3];
        if (inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
        const int nk = 255 - k;  // PIL cmyk2rgb
        dst[0] = static_cast<uint8_t>(std::max(0, nk - muldiv255(c, nk)));
        dst[1] = static_cast<uint8_t>(std::max(0, nk - muldiv255(m, nk)));
        dst[2] = static_cast<uint8_t>(std::max(0, nk - muldiv255(y, nk)));
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

DecodedImage decode_jpeg(const uint8_t* data, size_t size, const std::string& what, int64_t min_short_side) {
  DecodedImage out;
  JpegError err;
  err.message[0] = '\0';
  if (!decode_jpeg_into(data, size, min_short_side, out, err))
    fail(what, ": cannot decode this JPEG file (libjpeg: ", err.message, ")");
  return out;
}
#endif

#ifdef FLATCLR_HAVE_PNG
struct PngReader {
  const uint8_t* data;
  size_t size, pos;
  char message[256];
};

void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "file is truncated");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

void png_on_error(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "%s", msg);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

bool decode_png_into(PngReader& reader, DecodedImage& out, std::vector<png_bytep>& rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, png_on_error, png_on_warning);
  if (!png) return false;
  png_infop info = png_create_info_struct(png);
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
    return false;
  }
  png_set_read_fn(png, &reader, png_read_mem);
  png_read_info(png, info);
  char bomb[160];
  if (too_many_pixels(png_get_image_width(png, info), png_get_image_height(png, info), bomb, sizeof bomb))
    png_error(png, bomb);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_strip_16(png);  // the high byte, as PIL's "RGB;16B"
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_strip_alpha(png);  // also the alpha that palette expansion makes from tRNS
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int64_t h = png_get_image_height(png, info), w = png_get_image_width(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(w * 3)) png_error(png, "unexpected row layout");
  out.height = h;
  out.width = w;
  out.pixels.resize(static_cast<size_t>(h * w * 3));
  rows.resize(static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y) rows[y] = out.pixels.data() + y * w * 3;
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

DecodedImage decode_png(const uint8_t* data, size_t size, const std::string& what) {
  PngReader reader{data, size, 0, "out of memory"};
  DecodedImage out;
  std::vector<png_bytep> rows;
  if (!decode_png_into(reader, out, rows))
    fail(what, ": cannot decode this PNG file (libpng: ", reader.message, ")");
  return out;
}
#endif

}  // namespace

bool have_jpeg() {
#ifdef FLATCLR_HAVE_JPEG
  return true;
#else
  return false;
#endif
}

bool have_png() {
#ifdef FLATCLR_HAVE_PNG
  return true;
#else
  return false;
#endif
}

int jpeg_scale_eighths(int64_t height, int64_t width, int64_t min_short_side) {
  const int64_t shorter = std::min(height, width);
  if (min_short_side <= 0 || shorter <= min_short_side) return 8;
  for (int m = 1; m < 8; m *= 2)
    if ((shorter * m + 7) / 8 >= min_short_side) return m;
  return 8;
}

DecodedImage decode_image(const uint8_t* data, size_t size, const std::string& what, int64_t min_short_side) {
  if (is_jpeg(data, size)) {
#ifdef FLATCLR_HAVE_JPEG
    return decode_jpeg(data, size, what, min_short_side);
#else
    fail(what,
         ": a JPEG file, but this flatclr was built without libjpeg (install libjpeg62-turbo-dev and "
         "rebuild)");
#endif
  }
  if (is_png(data, size)) {
#ifdef FLATCLR_HAVE_PNG
    return decode_png(data, size, what);
#else
    fail(what, ": a PNG file, but this flatclr was built without libpng (install libpng-dev and rebuild)");
#endif
  }
  fail(what, ": not a JPEG or PNG file (", size, " bytes, unknown signature)");
}

DecodedImage decode_image_file(const std::string& path, int64_t min_short_side) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) fail(path, ": cannot open the image file");
  const auto size = static_cast<size_t>(f.tellg());
  std::vector<uint8_t> bytes(size);
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size)))
    fail(path, ": cannot read the image file");
  return decode_image(bytes.data(), bytes.size(), path, min_short_side);
}

}  // namespace flatclr::data
