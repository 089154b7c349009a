# Sourced by the scripts: where the virtual environment with the torch wheel lives, and which versions it holds.
# It is outside the clone on purpose: every clone on a machine shares it (the download is about 2.7 GB).
TORCH_VERSION=2.11.0
TORCHVISION_VERSION=0.26.0
FLATCLR_VENV=${FLATCLR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/flatclr/venv-torch-$TORCH_VERSION}
