// A small synthetic image folder for in-process pretraining tests (no CIFAR files needed):
// <root>/synthetic/{train,test}/{a,b}/*.png, 16x16 RGB, class a dark and class b bright with noise; 24 train
// and 8 test images per class. Written by the virtual environment's Python (numpy, PIL).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "../test_paths.h"

namespace flatclr::testing {

// Writes the folder under a fresh <temp>/<prefix>_<pid> and returns that root (the dataset name is
// "synthetic").
inline std::filesystem::path write_synthetic_folder(const std::string& prefix) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / (prefix + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(root);
  const std::string script =
      "import os, sys, numpy as np\n"
      "from PIL import Image\n"
      "rng = np.random.default_rng(0)\n"
      "for split, n in (('train', 24), ('test', 8)):\n"
      "    for c, base in (('a', 60), ('b', 180)):\n"
      "        d = os.path.join(sys.argv[1], 'synthetic', split, c)\n"
      "        os.makedirs(d)\n"
      "        for i in range(n):\n"
      "            px = np.clip(base + rng.normal(0, 40, (16, 16, 3)), 0, 255).astype(np.uint8)\n"
      "            Image.fromarray(px).save(os.path.join(d, '%02d.png' % i))\n";
  const std::string cmd = python() + " -c \"" + script + "\" '" + root.string() + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot write the synthetic folder: " + cmd);
  return root;
}

}  // namespace flatclr::testing
