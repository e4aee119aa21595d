#!/usr/bin/env bash
# Lays out a CUDA 13.0 toolkit (nvcc, headers, the libraries candle links)
# from NVIDIA's wheels on PyPI, for `cargo build --features cuda` on a
# machine without a system CUDA install, and prints the environment to
# export.
#
#   scripts/cuda13-toolkit.sh DIR        # e.g. /work/cuda13
#   eval "$(scripts/cuda13-toolkit.sh DIR)"
#
# Idempotent: wheels already downloaded are not fetched again, a finished
# layout is left as it is. Needs python3 with pip, gcc (for the libcuda link
# stub) and about 2.5 GiB in DIR. Nothing it writes belongs in the repo.
#
# Why 13.0: candle compiles its kernels to PTX with this nvcc, and a driver
# loads PTX of its own CUDA version or older. 13.0 is the oldest CUDA 13, so
# the binary runs on every CUDA 13 driver (>= 580); cudarc's
# `cuda-version-from-build-system` reads the version from `nvcc --version`.
# NCCL 2.30 because candle's `nccl` feature turns on cudarc's 2.30 bindings.
#
# libcuda.so (the driver) is in no wheel: the binary links against a stub
# generated from cuda.h (every cu* entry point, soname libcuda.so.1) that is
# never loaded at run time: there the driver's own libcuda.so.1 is used.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR   (DIR receives the wheels and the CUDA root)" >&2
    exit 2
fi
dir=$(mkdir -p "$1" && cd "$1" && pwd)
wheels="$dir/wheels"
root="$dir/nvidia/cu13"

# name==version of each wheel; the CUDA 13 wheels share the nvidia/cu13 tree.
packages=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-cccl==13.0.85
    nvidia-cuda-nvrtc==13.0.88
    nvidia-cublas==13.0.2.14
    nvidia-curand==10.4.0.35
    nvidia-nccl-cu13==2.30.7
)

if [ ! -e "$dir/.downloaded" ]; then
    mkdir -p "$wheels"
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --dest "$wheels" "${packages[@]}" >&2
    touch "$dir/.downloaded"
fi

if [ ! -e "$dir/.unpacked" ]; then
    for w in "$wheels"/*.whl; do
        python3 - "$w" "$dir" <<'EOF'
import sys, zipfile, os, stat
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for info in z.infolist():
        if ".dist-info/" in info.filename:
            continue
        path = z.extract(info, dest)
        mode = info.external_attr >> 16
        if mode & stat.S_IXUSR:
            os.chmod(path, os.stat(path).st_mode | 0o111)
EOF
    done
    touch "$dir/.unpacked"
fi

if [ ! -e "$dir/.laid-out" ]; then
    # nvcc's ptxas, nvlink, cicc... must be executable whatever the zip said.
    chmod +x "$root"/bin/* "$root"/nvvm/bin/* 2>/dev/null || true
    # The linker looks for libX.so; the wheels ship only the sonames.
    for so in "$root"/lib/lib*.so.*; do
        base=$(basename "$so")
        case "$base" in *.alt.so.*|libnvrtc-builtins*) continue ;; esac
        ln -sfn "$base" "$root/lib/${base%%.so.*}.so"
    done
    # NCCL lives in its own tree: its header and library join the root.
    ln -sfn "../../nccl/include/nccl.h" "$root/include/nccl.h"
    for so in "$dir"/nvidia/nccl/lib/libnccl.so*; do
        ln -sfn "../../nccl/lib/$(basename "$so")" "$root/lib/$(basename "$so")"
    done
    ln -sfn libnccl.so.2 "$root/lib/libnccl.so"
    ln -sfn lib "$root/lib64"
    # The libcuda link stub: one function per cu* name in cuda.h, each
    # returning CUDA_ERROR_STUB_LIBRARY (34) as NVIDIA's own stubs do, so a
    # binary run against it (tests on a machine without a GPU) gets an
    # error from cuInit instead of undefined behaviour.
    mkdir -p "$root/lib/stubs"
    grep -ohE '\bcu[A-Z][A-Za-z0-9_]*' "$root/include/cuda.h" "$root/include/cudaTypedefs.h" \
        | sort -u | sed 's/.*/int &(void) { return 34; }/' >"$root/lib/stubs/libcuda.c"
    gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" \
        "$root/lib/stubs/libcuda.c"
    ln -sfn libcuda.so "$root/lib/stubs/libcuda.so.1"
    "$root/bin/nvcc" --version >&2
    touch "$dir/.laid-out"
fi

cat <<EOF
# Without a GPU driver (to run the CPU tests of a cuda build; GPU tests then
# skip), add $root/lib/stubs to LD_LIBRARY_PATH: never where a driver is.
export CUDA_HOME=$root
export CUDA_PATH=$root
export PATH=$root/bin:\$PATH
export LD_LIBRARY_PATH=$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
EOF
