// Which images a run reads and how: the data settings that pretraining and evaluation share (the same
// command-line flags set both). Messages name the fields as data.<field> (core/error.h).
#pragma once

#include <cstdint>
#include <string>

#include "flatclr/data/image_folder.h"
#include "flatclr/data/open_dataset.h"

namespace flatclr::data {

struct DataConfig {
  std::string root = "./datasets";  // holds cifar-10-batches-bin/, cifar-100-binary/, <name>/train/...
  std::string dataset_name =
      "cifar10";         // cifar10 | cifar100 | an image folder <root>/<name>/{train,val|test}
  bool download = true;  // fetch missing CIFAR archives
  BadImagesPolicy bad_images = BadImagesPolicy::kSkip;
  // Decoding (and, when pretraining per image, augmentation) threads; -1: one per core of this process's
  // share of the machine (resolved by the job; open_options() takes all cores).
  int64_t workers = -1;
  double fraction = 1.0;  // class-stratified share of the training set, (0, 1]
  // Evaluation splits in memory or streamed from disk (data/open_dataset.h): auto streams ImageNet-sized
  // folders only.
  Streaming streaming = Streaming::kAuto;
  // Evaluation splits of ImageNet-sized folders: JPEGs decoded smaller in the DCT domain before Resize(256)
  // (image_decode.h); off: PIL's exact pixels.
  bool jpeg_draft = false;

  // UsageError naming the field and the value. An empty dataset_name passes (evaluation reads it from the
  // checkpoint); pretraining refuses it itself.
  void validate() const;
  // The options data/open_dataset.h takes: at least one decoding thread.
  OpenOptions open_options() const;
};

}  // namespace flatclr::data
