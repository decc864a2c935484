#!/usr/bin/env bash
# Installs what the project needs on a fresh machine that has python3, git and make:
# uv (into .tools/, never system-wide) and then every workspace distribution into .venv (uv.lock, frozen).
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="0.13.9"
if [[ ! -x .tools/bin/uv ]] || [[ "$(.tools/bin/uv --version 2>/dev/null | awk '{print $2}')" != "$UV_VERSION" ]]; then
  echo "bootstrap: installing uv $UV_VERSION into .tools/"
  python3 -m venv .tools
  .tools/bin/python -m pip install --quiet "uv==$UV_VERSION"
fi
.tools/bin/uv sync --frozen --all-packages --quiet
