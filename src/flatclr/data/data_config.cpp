#include "flatclr/data/data_config.h"

#include <algorithm>

#include "flatclr/core/error.h"
#include "flatclr/core/threads.h"

namespace flatclr::data {

void DataConfig::validate() const {
  if (dataset_name.find('/') != std::string::npos || dataset_name == "." || dataset_name == "..") {
    fail_usage(Field{"data.dataset_name"}, "=", dataset_name,
               ": expected cifar10, cifar100 or the name of an image folder <data>/<name>/train/<class>/*");
  }
  if (workers < -1)
    fail_usage(Field{"data.workers"}, "=", workers, ": expected an integer >= 0 (or -1: one per core)");
  if (!(fraction > 0 && fraction <= 1)) {
    fail_usage(Field{"data.fraction"}, "=", fraction, ": expected a fraction in (0, 1]");
  }
}

OpenOptions DataConfig::open_options() const {
  OpenOptions o;
  o.download = download;
  o.stop_on_bad = bad_images == BadImagesPolicy::kStop;
  o.streaming = streaming;
  o.jpeg_draft = jpeg_draft;
  o.threads = workers < 0 ? core::cores_per_process(1) : static_cast<int>(std::max<int64_t>(1, workers));
  return o;
}

}  // namespace flatclr::data
