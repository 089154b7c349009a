// `flatclr export`: a pretrained encoder's backbone as a file other tools load.
//   pth          a torch.save state dict (a plain dict of tensors: torch.load's default weights_only=True
//   reads
//                it) with torchvision's ResNet key names, without the projection head (`fc.*`) and the input
//                normalisation (`normalize.*`): torchvision.models.resnetXX().load_state_dict(sd,
//                strict=False) reports only fc.weight/fc.bias missing (CIFAR-stem encoders: after replacing
//                conv1 by a 3x3 stride-1 convolution and maxpool by Identity, as the stem metadata says).
//   safetensors  the same tensors, plus metadata (string -> string): architecture, torchvision name, stem,
//                width multiplier, feature dimension, the normalisation mean/std the encoder expects (the
//                inputs are [0, 1] RGB images normalised with them), method, pretraining epochs and dataset,
//                and the source checkpoint.
// The file is written atomically (a temporary file, then a rename).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "flatclr/core/choice.h"
#include "flatclr/eval/encoder_loader.h"
#include "flatclr/io/safetensors.h"

namespace flatclr::eval {

enum class ExportFormat { kPth, kSafetensors };
inline constexpr core::Choice<ExportFormat> kExportFormats[] = {{ExportFormat::kPth, "pth"},
                                                                {ExportFormat::kSafetensors, "safetensors"}};
constexpr const auto& choices_of(ExportFormat) { return kExportFormats; }

struct ExportConfig {
  std::string checkpoint_dir;
  int64_t transfer_from_epoch = -1;  // -1: the newest checkpoint
  ExportFormat format = ExportFormat::kPth;
  std::string output;

  void validate() const;  // UsageError naming the field
};

// The backbone's tensors, torchvision names, in state-dict order (no fc.*, no normalize.*).
io::NamedTensors backbone_tensors(const LoadedEncoder& encoder);

// What the safetensors file's __metadata__ holds (see above).
std::map<std::string, std::string> encoder_metadata(const LoadedEncoder& encoder);

struct ExportResult {
  std::string checkpoint;  // the source
  int64_t tensors = 0;
  int64_t parameters = 0;  // elements of all tensors
  uint64_t bytes = 0;      // of the file written
};

ExportResult export_encoder(const ExportConfig& config);

}  // namespace flatclr::eval
