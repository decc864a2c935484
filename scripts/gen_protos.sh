#!/usr/bin/env bash
# Regenerates the committed Python for every .proto under protos/ (messages, gRPC stubs, mypy stubs).
# With --check it generates into a temporary tree and fails when the committed files differ.
set -euo pipefail
cd "$(dirname "$0")/../protos"
PY="${PYTHON:-../.venv/bin/python}"
export PATH="$(cd "$(dirname "$PY")" && pwd):$PATH"
out="."
if [[ "${1:-}" == "--check" ]]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mapfile -t files < <(find resonanz -name '*.proto' | sort)
"$PY" -m grpc_tools.protoc -I. \
  --python_out="$out" --mypy_out="$out" \
  --grpc_python_out="$out" --mypy_grpc_out="$out" \
  "${files[@]}"
if [[ "${1:-}" == "--check" ]]; then
  status=0
  while IFS= read -r f; do
    rel="${f#"$out"/}"
    if ! cmp -s "$f" "$rel"; then echo "drift: protos/$rel differs from its .proto (run make protos)"; status=1; fi
  done < <(find "$out" -type f \( -name '*.py' -o -name '*.pyi' \))
  while IFS= read -r f; do
    [[ -e "$out/$f" ]] || { echo "stale: protos/$f has no .proto any more (run make protos)"; status=1; }
  done < <(find resonanz -type f \( -name '*_pb2*.py' -o -name '*_pb2*.pyi' \))
  [[ $status == 0 ]] && echo "generated Python matches the .proto files"
  exit $status
fi
