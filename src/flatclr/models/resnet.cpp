#include "flatclr/models/resnet.h"

#include <torch/torch.h>

#include <cmath>

#include "flatclr/core/error.h"

namespace flatclr::models {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(false));
}

nn::Sequential downsample_if_needed(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride, 0), BatchNorm2d(out));
}

struct ArchSpec {
  bool bottleneck;
  std::vector<int64_t> blocks;
};

ArchSpec arch_spec(Arch arch) {
  switch (arch) {
    case Arch::kRes10:
      return {false, {1, 1, 1, 1}};
    case Arch::kRes18:
      return {false, {2, 2, 2, 2}};
    case Arch::kRes34:
      return {false, {3, 4, 6, 3}};
    case Arch::kRes50:
      return {true, {3, 4, 6, 3}};
    case Arch::kRes101:
      return {true, {3, 4, 23, 3}};
    case Arch::kRes152:
      return {true, {3, 8, 36, 3}};
  }
  throw InternalError("unknown models::Arch");
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 3, stride, 1));
  bn1 = register_module("bn1", BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", BatchNorm2d(planes));
  if (auto ds = downsample_if_needed(in_planes, planes * kExpansion, stride)) {
    downsample = register_module("downsample", ds);
  }
}

at::Tensor BasicBlockImpl::forward(const at::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  out += downsample ? downsample->forward(x) : x;
  return torch::relu_(out);
}

BottleneckImpl::BottleneckImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(in_planes, planes, 1, 1, 0));
  bn1 = register_module("bn1", BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", BatchNorm2d(planes));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1, 1, 0));
  bn3 = register_module("bn3", BatchNorm2d(planes * kExpansion));
  if (auto ds = downsample_if_needed(in_planes, planes * kExpansion, stride)) {
    downsample = register_module("downsample", ds);
  }
}

at::Tensor BottleneckImpl::forward(const at::Tensor& x) {
  auto out = torch::relu(bn1(conv1(x)));
  out = torch::relu(bn2(conv2(out)));
  out = bn3(conv3(out));
  out += downsample ? downsample->forward(x) : x;
  return torch::relu_(out);
}

ResNetImpl::ResNetImpl(ResNetOptions o) : options(std::move(o)) {
  if (!(options.width_multiplier > 0) || !std::isfinite(options.width_multiplier)) {
    fail("width multiplier ", options.width_multiplier, ": expected a positive number");
  }
  const ArchSpec spec = arch_spec(options.arch);
  const int64_t expansion = spec.bottleneck ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion;
  auto width = [&](int64_t base) {
    return std::max<int64_t>(1, static_cast<int64_t>(std::lround(base * options.width_multiplier)));
  };
  const int64_t stem = width(64);

  normalize = register_module("normalize", Normalize(channel_stats_for(options.normalize_dataset)));
  conv1 = register_module("conv1", options.imagenet_stem ? conv(3, stem, 7, 2, 3) : conv(3, stem, 3, 1, 1));
  bn1 = register_module("bn1", BatchNorm2d(stem));

  int64_t in_planes = stem;
  auto make_layer = [&](int64_t planes, int64_t blocks, int64_t stride) {
    nn::Sequential layer;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b == 0 ? stride : 1;
      if (spec.bottleneck) {
        layer->push_back(Bottleneck(in_planes, planes, s));
      } else {
        layer->push_back(BasicBlock(in_planes, planes, s));
      }
      in_planes = planes * expansion;
    }
    return layer;
  };
  layer1 = register_module("layer1", make_layer(width(64), spec.blocks[0], 1));
  layer2 = register_module("layer2", make_layer(width(128), spec.blocks[1], 2));
  layer3 = register_module("layer3", make_layer(width(256), spec.blocks[2], 2));
  layer4 = register_module("layer4", make_layer(width(512), spec.blocks[3], 2));
  feature_dim_ = in_planes;

  options.head.in_dim = feature_dim_;
  fc = register_module("fc", ProjectionHead(options.head));

  // torchvision's initialisation (zero_init_residual=False).
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* c = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

at::Tensor ResNetImpl::features(const at::Tensor& x) {
  auto out = torch::relu(bn1(conv1(normalize(x))));
  if (options.imagenet_stem) out = torch::max_pool2d(out, 3, 2, 1);
  out = layer4->forward(layer3->forward(layer2->forward(layer1->forward(out))));
  return torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
}

std::pair<at::Tensor, at::Tensor> ResNetImpl::forward(const at::Tensor& x) {
  auto h = features(x);
  return {h, fc(h)};
}

}  // namespace flatclr::models
