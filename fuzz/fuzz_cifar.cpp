// libFuzzer target: the CIFAR binary readers (data/cifar.h): records (CIFAR-10's one label byte, CIFAR-100's
// two) and the class-name files. The first input byte picks the layout; the rest is the file. Any input must
// end in images or a UserError.
#include "flatclr/core/error.h"
#include "flatclr/data/cifar.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int label_bytes = (data[0] & 1) ? 2 : 1;
  const int64_t classes = (data[0] & 1) ? 100 : 10;
  const std::string path = flatclr::fuzz::write_input("batch.bin", data + 1, size - 1);
  const int64_t record = label_bytes + 3072;
  // As many records as the file claims to hold (the reader checks the size against this count), at least 1.
  const int64_t records = std::max<int64_t>(1, static_cast<int64_t>(size - 1) / record);
  try {
    flatclr::data::read_cifar_file(path, records, label_bytes, classes);
  } catch (const flatclr::UserError&) {
  }
  try {
    flatclr::data::read_class_names(path, classes, {});
  } catch (const flatclr::UserError&) {
  }
  return 0;
}
