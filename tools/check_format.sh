#!/usr/bin/env bash
# Checks that every C++/CUDA file under cpp/ is formatted as .clang-format says; exits non-zero and
# names each file that is not (clang-format prints the lines it would change).
#   bash tools/check_format.sh            check
#   bash tools/check_format.sh --fix      rewrite the files in place instead
# The formatting depends on the clang-format version, so CI and everyone pin the same one, the PyPI
# wheel: pip install clang-format==21.1.8 (CLANG_FORMAT=/path/to/clang-format to use another binary).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="21.1.8"
CLANG_FORMAT="${CLANG_FORMAT:-clang-format}"
if ! command -v "$CLANG_FORMAT" > /dev/null; then
  echo "check_format: $CLANG_FORMAT not found; pip install clang-format==$VERSION" >&2
  exit 2
fi
found="$("$CLANG_FORMAT" --version)"
if [[ "$found" != *"version $VERSION"* ]]; then
  echo "check_format: expected clang-format $VERSION, got: $found" >&2
  echo "  pip install clang-format==$VERSION" >&2
  exit 2
fi
mapfile -t files < <(git ls-files 'cpp/*.h' 'cpp/*.cpp' 'cpp/*.cu' 'cpp/*.cuh' 'cpp/*.inc')
if [[ "${1:-}" == "--fix" ]]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi
"$CLANG_FORMAT" --dry-run --Werror "${files[@]}"
echo "check_format: ${#files[@]} files formatted as .clang-format says"
