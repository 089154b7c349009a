// libFuzzer target: the torch.save reader (io/torch_load.h), which reads checkpoints from anywhere (the
// paper's, Python's, a download). Any input must end in a value or in a UserError (or LibTorch's own error
// from its zip reader); a crash, a sanitizer report, an InternalError or another exception is a finding.
#include <c10/util/Exception.h>

#include "flatclr/core/error.h"
#include "flatclr/io/torch_load.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = flatclr::fuzz::write_input("input.pth.tar", data, size);
  try {
    flatclr::io::torch_load(path);
  } catch (const flatclr::UserError&) {
  } catch (const c10::Error&) {
  }
  try {
    flatclr::io::load_encoder_state_dict(path);
  } catch (const flatclr::UserError&) {
  } catch (const c10::Error&) {
  }
  return 0;
}
