// libFuzzer target: image decoding (data/image_decode.h: libjpeg-turbo and libpng behind our error handling),
// the reader of every file of an image-folder dataset. Any input must end in an RGB image or a UserError.
#include "flatclr/core/error.h"
#include "flatclr/data/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto image = flatclr::data::decode_image(data, size, "fuzz input");
    volatile uint8_t sink = image.pixels.empty() ? 0 : image.pixels.back();  // touch the whole buffer's end
    (void)sink;
  } catch (const flatclr::UserError&) {
  }
  return 0;
}
