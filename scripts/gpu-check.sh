#!/usr/bin/env bash
# The GPU checks of the `cuda`/`nccl` features, in two halves:
#
#   scripts/gpu-check.sh bundle [DIR]   # here, with cargo and the toolkit
#   scripts/gpu-check.sh run [DIR]      # on the GPU host, from the repo root
#
# `bundle` builds (release, --features nccl, sm_90 kernels) and copies into
# DIR (default target/gpu-bundle, stripped) and DIR.tar.xz (what to carry
# to the GPU host: 21 MB): sc-bench, the xtask binary, and the
# unit-test executables of sc-models and sc-train (their CPU-against-CUDA
# tests). Needs the CUDA environment of scripts/cuda13-toolkit.sh. Set
# CUDA_COMPUTE_CAP for another GPU than an H100/H200 (90).
#
# `run` (unpacking DIR.tar.xz if DIR is missing) needs on the GPU host: an
# NVIDIA driver for CUDA 13 (>= 580) and the CUDA 13 libraries the binaries
# link: libcublas.so.13, libcublasLt.so.13, libcurand.so.10,
# libcudart.so.13 and libnccl.so.2. It looks for them in DIR/lib, then in
# the nvidia/cu13/lib and nvidia/nccl/lib folders of python3's
# site-packages (PyTorch's CUDA 13 wheels), and names what is still missing
# (ldd). No Rust toolchain, no network. It
# writes everything under $OUT (or gpu-check-out/) and takes about 5-8
# minutes on an H200:
#   1. the GPU and driver (nvidia-smi);
#   2. the CPU-against-CUDA tests (forward, backward, training steps);
#   3. sc-bench speed --device cuda (ResNet18 and the small CNN: train step,
#      continuity step, PGD-10, IG-32; GEMM and conv GFLOP/s) at batch 128
#      and 512;
#   4. NCCL: `train --devices cuda:0` (world size 1) against plain
#      `train --device cuda:0`: their final checkpoints must be identical;
#   5. the quick study on --device cuda (bounded to 4 minutes; re-running
#      resumes it).
set -uo pipefail

mode=${1:-}
dir=${2:-target/gpu-bundle}

bundle() {
    command -v nvcc >/dev/null || {
        echo "nvcc not found: eval \"\$(scripts/cuda13-toolkit.sh DIR)\" first" >&2
        exit 2
    }
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    local target=${CARGO_TARGET_DIR:-target}
    set -e
    cargo build --release --features nccl --bin sc-bench
    cargo build --release -p xtask
    local tests
    # The features of the sc-bench build (nccl included), so candle is
    # built once.
    tests=$(cargo test --release -p sc-models -p sc-train --lib --no-run \
        --features sc-models/cuda,sc-train/cuda,candle-core/nccl \
        --message-format=json 2>/dev/null |
        python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
    rm -rf "$dir" && mkdir -p "$dir/tests"
    cp "$target/release/sc-bench" "$target/release/xtask" "$dir/"
    for t in $tests; do cp "$t" "$dir/tests/"; done
    strip "$dir/sc-bench" "$dir/xtask" "$dir"/tests/*
    tar -C "$(dirname "$dir")" -cf - "$(basename "$dir")" | xz -T0 -6 >"$dir.tar.xz"
    du -sh "$dir"/* "$dir"/tests/* "$dir.tar.xz"
}

# The CUDA 13 library folders of python3's site-packages, if any.
wheel_libs() {
    command -v python3 >/dev/null || return 0
    python3 - <<'EOF'
import site, os
dirs = site.getsitepackages() + [site.getusersitepackages()]
for d in dirs:
    for sub in ("nvidia/cu13/lib", "nvidia/nccl/lib", "nvidia/cublas/lib",
                "nvidia/curand/lib", "nvidia/cuda_runtime/lib"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            print(p)
EOF
}

run() {
    local out=${OUT:-gpu-check-out}
    mkdir -p "$out"
    if [ ! -d "$dir" ] && [ -f "$dir.tar.xz" ]; then
        tar -C "$(dirname "$dir")" -xJf "$dir.tar.xz"
    fi
    local bin="$dir/sc-bench"
    local libs
    libs=$(wheel_libs | paste -sd: -)
    export LD_LIBRARY_PATH="$dir/lib${libs:+:$libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee "$out/summary.txt"
    local failed=0
    # Each check's output goes to a log under $out; the summary lists them.
    step() { echo; echo "== $*" | tee -a "$out/summary.txt"; }
    check() {
        if "$@"; then echo "ok: $*" | tee -a "$out/summary.txt"; else
            echo "FAILED ($?): $*" | tee -a "$out/summary.txt"; failed=1; fi
    }

    step "1. GPU"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.csv"
    local missing
    missing=$(ldd "$bin" "$dir"/tests/* | grep "not found" | sort -u)
    if [ -n "$missing" ]; then
        echo "missing libraries (put them in $dir/lib):" | tee -a "$out/summary.txt"
        echo "$missing" | tee -a "$out/summary.txt"
        exit 2
    fi

    step "2. CPU-against-CUDA tests"
    for t in "$dir"/tests/*; do
        # The CUDA tests are #[ignore]d (they need a GPU) and fail here
        # when none answers.
        check timeout 300 "$t" cuda --include-ignored --test-threads=1 --nocapture >>"$out/tests.log" 2>&1
    done

    step "3. speed"
    for b in 128 512; do
        check timeout 240 "$bin" speed --device cuda --batch "$b" --reps 5 \
            --out "$out/speed-b$b.json" >"$out/speed-b$b.log" 2>&1
        grep -E "images|median" "$out/speed-b$b.log" | head -20
    done

    step "4. NCCL world size 1 against plain training"
    local train=(train --data shapes:n=2000,test=200 --model small-cnn --regime c
        --epochs 2 --batch-size 128 --seed 3 --json)
    rm -rf "$out/plain" "$out/nccl1"
    check timeout 120 "$bin" "${train[@]}" --device cuda:0 --run "$out/plain" \
        >"$out/plain.json"
    check timeout 120 "$bin" "${train[@]}" --devices cuda:0 --run "$out/nccl1" \
        >"$out/nccl1.json"
    for f in "$out"/plain/checkpoints/*.safetensors; do
        check cmp "$f" "$out/nccl1/checkpoints/$(basename "$f")"
    done

    step "5. quick study on cuda (4 minutes at most; re-run to resume)"
    timeout 240 "$dir/xtask" reproduce --quick --device cuda --sc-bench "$bin" \
        --out "$out/quick" 2>&1 | tail -40 | tee "$out/quick.log"
    echo "quick study exit status ${PIPESTATUS[0]} (124: cut at 4 minutes)" |
        tee -a "$out/summary.txt"

    echo
    cat "$out/summary.txt"
    exit $failed
}

case "$mode" in
    bundle) bundle ;;
    run) run ;;
    *)
        echo "usage: $0 bundle|run [DIR]" >&2
        exit 2
        ;;
esac
