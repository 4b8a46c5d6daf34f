#!/usr/bin/env bash
# The GPU check of the cuda backend: tests/test_cuda_device, tests/test_cuda_moe (moe shards on
# the GPU, with its CUDA kernels) and bench/bench_cuda, built on the
# development machine (where loom's dependencies are installed) and run on a lent GPU machine,
# which has the CUDA toolkit and driver but none of loom's other libraries (CAF, fmt, hwloc,
# Boost.Test, OpenBLAS, ...). So the build travels with the shared libraries it needs.
#
#   scripts/gpu-check.sh prepare   # here: build build-gpu (no media stages), then put the
#                                  # programs, libloom and the libraries they need into .gpu-carry
#   scripts/gpu-check.sh run       # there, from the repository root, with .gpu-carry carried
#
# Only .gpu-carry travels (about 45 MiB): the build tree itself, object files included, is over
# the device tool's 64 MiB carry limit.
#
# `run` also writes everything it prints to $OUT/gpu-check.log when OUT is set, and exits
# non-zero when the test fails or a program does not start.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

tree=build-gpu         # the CMake build tree, here only
build=.gpu-carry/build  # what the checks run: the tree's programs and libraries, same layout
libs=.gpu-carry/libs    # the other shared libraries they need
programs=("$build/tests/test_cuda_device" "$build/tests/test_cuda_moe" "$build/bench/bench_cuda"
          "$build/cli/loom")

# What the GPU machine has of its own and must not be shadowed: the C and C++ runtimes, and the
# CUDA runtime, cuBLAS and driver, which have to match its driver.
provided='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libutil|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnvidia-[a-z]*)\.so'

# "NAME PATH" for every library the programs, libloom and the device plugins beside it (which
# device_registry::standard() loads) need, as the loader resolves them now.
# Where the loader would find soname $1 now: LD_LIBRARY_PATH first, then its cache.
found_library() {
  local dir
  for dir in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }}; do
    [[ -e $dir/$1 ]] && { echo "$dir/$1"; return; }
  done
  ldconfig -p | awk -v soname="$1" '$1 == soname && /x86-64/ { print $NF; exit }'
}

# libloom also opens OpenBLAS itself, at its first matrix product (devices/cpu/openblas.hpp): it
# and what it needs travel too.
resolved_libraries() {
  local openblas
  openblas=$(found_library libopenblas.so.0)
  { ldd "${programs[@]}" "$build"/libloom.so.* "$build"/libloom_device_*.so ${openblas:+"$openblas"} \
      2>/dev/null | awk '$2 == "=>" { print $1, $3 }'
    [[ -n $openblas ]] && echo "libopenblas.so.0 $openblas"
  } | sort -u
}

prepare() {
  cmake -S . -B "$tree" -DCMAKE_BUILD_TYPE=Release -DLOOM_WITH_MEDIA=OFF
  cmake --build "$tree" -j2 --target loom loom_cli test_cuda_device test_cuda_moe bench_cuda \
    loom_device_emu
  rm -rf .gpu-carry
  local output file
  for output in "${programs[@]#"$build"/}" 'libloom.so*' 'libloom_device_*.so'; do
    for file in "$tree"/$output; do
      mkdir -p "$build/$(dirname "${file#"$tree"/}")"
      cp -P "$file" "$build/${file#"$tree"/}"
    done
  done
  for program in "${programs[@]}"; do
    [[ -x $program ]] || { echo "gpu-check: $program was not built" >&2; exit 1; }
  done

  mkdir -p "$libs"
  local name path
  while read -r name path; do
    [[ $path == not ]] && { echo "gpu-check: $name is not found here" >&2; exit 1; }
    [[ $name =~ $provided || $path == "$PWD/$build"/* || $path == "$PWD/$tree"/* ]] && continue
    cp -L "$path" "$libs/$name"
  done < <(resolved_libraries)

  # As the GPU machine will resolve them: everything from .gpu-carry or the provided
  # set. Anything else would be missing there.
  local stray
  stray=$(LD_LIBRARY_PATH="$PWD/$libs:$PWD/$build" resolved_libraries |
    carried_libs="$PWD/$libs/" carried_build="$PWD/$build/" provided="$provided" awk \
      'index($2, ENVIRON["carried_libs"]) != 1 && index($2, ENVIRON["carried_build"]) != 1 &&
       $1 !~ ENVIRON["provided"]')
  if [[ -n $stray ]]; then
    echo "gpu-check: these would not be found on the GPU machine:" >&2
    echo "$stray" >&2
    exit 1
  fi
  echo "gpu-check: libraries in $libs:"
  ls -1 "$libs"
  du -sh "$build" "$libs"
  echo "gpu-check: ready; run 'scripts/gpu-check.sh run' there with carry [\".gpu-carry\"]"
}

# The CUDA runtime and cuBLAS of the GPU machine: the toolkit's usual places first, then wherever
# the system has libcublas.so.13 (a pip-installed nvidia-cublas, say).
cuda_library_path() {
  local dirs=() dir found
  for dir in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -e $dir/libcublas.so.13 ]] && dirs+=("$dir")
  done
  if [[ ${#dirs[@]} -eq 0 ]] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13 '; then
    found=$(find /usr /opt -name 'libcublas.so.13' -print -quit 2>/dev/null || true)
    [[ -n $found ]] && dirs+=("$(dirname "$found")")
    found=$(find /usr /opt -name 'libcudart.so.13' -print -quit 2>/dev/null || true)
    [[ -n $found ]] && dirs+=("$(dirname "$found")")
  fi
  (IFS=:; echo "${dirs[*]}")
}

run_checks() {
  local program
  for program in "${programs[@]}"; do
    [[ -f $program ]] || {
      echo "gpu-check: $program is missing: run 'scripts/gpu-check.sh prepare' on the development" \
           "machine and carry .gpu-carry" >&2
      return 1
    }
    # A copy that lost its mode bits on the way.
    [[ -x $program ]] || chmod +x "$program"
  done
  local cuda_dirs
  cuda_dirs=$(cuda_library_path)
  export LD_LIBRARY_PATH="$PWD/$libs:$PWD/$build${cuda_dirs:+:$cuda_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "== LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if ldd "${programs[@]}" | grep 'not found'; then
    echo "gpu-check: libraries above are missing" >&2
  fi

  echo "== nvidia-smi -L"
  nvidia-smi -L || echo "(nvidia-smi failed or is absent)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true

  local test_status=0 bench_status=0
  echo "== $build/tests/test_cuda_device"
  timeout 300 "$build/tests/test_cuda_device" --log_level=test_suite --color_output=no ||
    test_status=$?
  echo "== test_cuda_device exit status: $test_status"
  local moe_status=0
  echo "== $build/tests/test_cuda_moe"
  timeout 300 "$build/tests/test_cuda_moe" --log_level=message --color_output=no || moe_status=$?
  echo "== test_cuda_moe exit status: $moe_status"
  echo "== $build/bench/bench_cuda"
  timeout 300 "$build/bench/bench_cuda" || bench_status=$?
  echo "== bench_cuda exit status: $bench_status"

  # The whole path through the runtime: a matrix product on the GPU fed from the CPU.
  local run_status=0
  echo "== loom devices"
  "$build/cli/loom" devices || run_status=$?
  echo "== loom plan examples/devices/gpu.toml"
  "$build/cli/loom" plan examples/devices/gpu.toml || run_status=$?
  echo "== loom run examples/devices/gpu.toml --stats json"
  timeout 120 "$build/cli/loom" run examples/devices/gpu.toml --stats json || run_status=$?
  echo "== loom run exit status: $run_status"
  [[ $test_status -eq 0 && $moe_status -eq 0 && $bench_status -eq 0 && $run_status -eq 0 ]]
}

case "${1:-}" in
  prepare) prepare ;;
  run)
    if [[ -n ${OUT:-} ]]; then
      mkdir -p "$OUT"
      set +e
      run_checks 2>&1 | tee "$OUT/gpu-check.log"
      exit "${PIPESTATUS[0]}"
    fi
    run_checks
    ;;
  *)
    echo "usage: scripts/gpu-check.sh prepare|run" >&2
    exit 2
    ;;
esac
