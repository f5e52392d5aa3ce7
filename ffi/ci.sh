#!/usr/bin/env bash
# CI of the C API (embedgrad-ffi).
#
#  1. the committed header include/embedgrad.h is what cbindgen generates now, and it compiles
#     alone as C99, C11 (gcc -Wall -Wextra -Werror -pedantic), C++11 and C++17 (g++), and with
#     arm-none-eabi-gcc; tests/header_use.c uses every macro, type and enumerator it defines
#     (checked) and compiles as C99, C11, C++11 and C++17; the C training loop in README.md is
#     examples/train_minimal.c;
#  2. embedgrad-sim's f32 run of mlp_xor gives the reference (final loss, accuracy, checksum),
#     written to target/ffi-ci/reference.h; the example series_reference (the small conv1d,
#     pooling and GRU graphs of tests/time_series.c, built with embedgrad-ops in Rust: forward
#     values and one training step) writes target/ffi-ci/series_reference.h;
#  3. host: the C tests (tests/train_mlp_xor.c, tests/bad_inputs.c, tests/header_use.c,
#     tests/weights_checkpoints.c, tests/time_series.c) under
#     AddressSanitizer and UBSan, and header_use.c again as C++11; the minimal example (examples/train_minimal.c) as C and as C++, through the
#     example Makefile, and through the example CMakeLists.txt when cmake is installed; the
#     bad-input test again against a library built with other capacities (EMBEDGRAD_FFI_NODES,
#     EMBEDGRAD_FFI_SCALARS, and -DEG_NODES/-DEG_SCALARS on the C side);
#  4. Cortex-M4F: the library built with the `panic-never` feature, so each firmware links only
#     if no panic path is reachable from the functions it calls (the bad-input test calls every
#     function of the header but the safetensors reader: checked); the reader (eg_weights_load)
#     parses JSON with serde-json-core, whose string parser keeps bounds checks, so
#     tests/weights_checkpoints.c, which calls it, defines the handler's missing function and
#     its firmware is checked instead by disassembly: every function that calls a panic must
#     be serde-json-core's or core's own; the tests and the example cross-compiled with
#     arm-none-eabi-gcc (hard float) and run in qemu-system-arm -machine mps2-an386 under
#     `timeout`, with newlib's rdimon semihosting;
#     the bad-input test links and passes again with the library built at opt-levels s, z and 2;
#  5. the library builds for the other bare-metal targets whose rustup target is installed
#     (Cortex-M0, M3, RISC-V): no_std, and the header's size bound holds there too;
#  6. what the library adds to a C firmware: arm-none-eabi-size of a firmware without embedgrad
#     and of the ones with it, and the library's own share from the linker map.
#
# Usage: ffi/ci.sh [--quick]    (--quick skips the other-capacities build and cmake)
#        NO_INSTALL=1 ffi/ci.sh (never install missing tools)
# Missing tools are installed: gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm
# (apt), the thumbv7em-none-eabihf Rust target (rustup) and cbindgen (cargo install).
# Outputs go to target/ffi-ci/; the libraries are built in $CARGO_TARGET_DIR (default target/).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

QUICK=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        -h | --help) sed -n '2,39p' "$0"; exit 0 ;;
        *) echo "ci.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

OUT=target/ffi-ci
ARM_OUT=$OUT/arm
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
RUST_TARGET=thumbv7em-none-eabihf
ARCH=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
CWARN=(-Wall -Wextra -Werror -pedantic)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1)
HOST_LIB=${CARGO_TARGET_DIR:-target}/release/libembedgrad_ffi.a
ARM_LIB=${CARGO_TARGET_DIR:-target}/$RUST_TARGET/release/libembedgrad_ffi.a
TESTS=(train_mlp_xor bad_inputs header_use weights_checkpoints time_series)
# The functions whose panic paths the gate cannot remove (see step 4), and the test that calls
# them instead of bad_inputs.
READER_API=(eg_weights_load)
READER_TEST=weights_checkpoints
mkdir -p "$OUT" "$ARM_OUT"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

FAILS=()
fail() { FAILS+=("$*"); echo "FAIL: $*" >&2; }
step() { printf '\n== %s\n' "$*"; }

# ----- tools ----------------------------------------------------------------------------------

step "tools"
have_newlib() { [[ "$(arm-none-eabi-gcc -print-file-name=librdimon.a 2>/dev/null)" == /* ]]; }
if [[ -z "${NO_INSTALL:-}" ]]; then
    apt_pkgs=()
    command -v gcc >/dev/null || apt_pkgs+=(gcc libc6-dev)
    command -v g++ >/dev/null || apt_pkgs+=(g++)
    command -v make >/dev/null || apt_pkgs+=(make)
    command -v arm-none-eabi-gcc >/dev/null || apt_pkgs+=(gcc-arm-none-eabi)
    { command -v arm-none-eabi-gcc >/dev/null && have_newlib; } || apt_pkgs+=(libnewlib-arm-none-eabi)
    command -v qemu-system-arm >/dev/null || apt_pkgs+=(qemu-system-arm)
    if ((${#apt_pkgs[@]})); then
        sudo=()
        [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
        echo "installing: ${apt_pkgs[*]}"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
    fi
    rustup target list --installed | grep -qx "$RUST_TARGET" || rustup target add "$RUST_TARGET"
    command -v cbindgen >/dev/null || cargo install --locked cbindgen
fi
for tool in gcc g++ make arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm qemu-system-arm cbindgen timeout; do
    command -v "$tool" >/dev/null || { echo "ci.sh: $tool is missing" >&2; exit 1; }
done
have_newlib || { echo "ci.sh: newlib for arm-none-eabi is missing (libnewlib-arm-none-eabi)" >&2; exit 1; }
echo "$(gcc --version | head -n 1); $(arm-none-eabi-gcc --version | head -n 1)"
echo "$(qemu-system-arm --version | head -n 1); $(cbindgen --version)"

# ----- header -----------------------------------------------------------------------------------

step "header: ffi/include/embedgrad.h"
cbindgen -q --config ffi/cbindgen.toml --crate embedgrad-ffi --output "$OUT/embedgrad.h"
if diff -u ffi/include/embedgrad.h "$OUT/embedgrad.h" >"$OUT/header.diff"; then
    echo "up to date with the sources"
else
    fail "ffi/include/embedgrad.h is stale; regenerate it with:"
    echo "    cbindgen --config ffi/cbindgen.toml --crate embedgrad-ffi --output ffi/include/embedgrad.h" >&2
    head -n 40 "$OUT/header.diff" >&2
fi
header_ok=1
for std in c99 c11; do
    gcc -std=$std "${CWARN[@]}" -fsyntax-only -x c ffi/include/embedgrad.h || { header_ok=0; fail "header: gcc -std=$std"; }
done
for std in c++11 c++17; do
    g++ -std=$std "${CWARN[@]}" -fsyntax-only -x c++ ffi/include/embedgrad.h || { header_ok=0; fail "header: g++ -std=$std"; }
done
arm-none-eabi-gcc -std=c99 "${CWARN[@]}" -fsyntax-only -x c ffi/include/embedgrad.h ||
    { header_ok=0; fail "header: arm-none-eabi-gcc -std=c99"; }
((header_ok)) && echo "compiles alone: gcc -std=c99/c11, g++ -std=c++11/c++17, arm-none-eabi-gcc -std=c99 (-Wall -Wextra -Werror -pedantic)"

# Used, not only included: tests/header_use.c uses every macro, type and enumerator of the header
# (built here as C and C++, run below on the host and in QEMU); a name the header defines that
# the file does not mention fails, so a new name gets a use with it.
header_names() {
    {
        grep -oE '^#define [A-Za-z_][A-Za-z0-9_]*' "$1" | awk '{print $2}'
        grep -oE '^ +[A-Z][A-Z0-9_]* =' "$1" | awk '{print $1}'
        grep -oE '^typedef [^;(]*[^a-z_]([a-z_][a-z0-9_]*);' "$1" | sed -E 's/.*[^a-z0-9_]([a-z_][a-z0-9_]*);$/\1/'
        grep -oE '^} [a-z_][a-z0-9_]*;' "$1" | tr -d '}; '
    } | sort -u
}
header_names ffi/include/embedgrad.h >"$OUT/header_names.txt"
unused=$(while read -r name; do grep -qw "$name" ffi/tests/header_use.c || printf '%s ' "$name"; done <"$OUT/header_names.txt")
if [[ -n "$unused" ]]; then
    fail "tests/header_use.c does not use: $unused(add a use of each)"
else
    echo "tests/header_use.c uses all $(wc -l <"$OUT/header_names.txt") macros, types and enumerators"
fi
use_ok=1
for std in c99 c11; do
    gcc -std=$std "${CWARN[@]}" -Iffi/include -Iffi/tests -c ffi/tests/header_use.c -o "$OUT/header_use_$std.o" ||
        { use_ok=0; fail "tests/header_use.c: gcc -std=$std"; }
done
for std in c++11 c++17; do
    g++ -std=$std "${CWARN[@]}" -Iffi/include -Iffi/tests -x c++ -c ffi/tests/header_use.c -o "$OUT/header_use_$std.o" ||
        { use_ok=0; fail "tests/header_use.c: g++ -std=$std"; }
done
((use_ok)) && echo "tests/header_use.c compiles: gcc -std=c99/c11, g++ -std=c++11/c++17 (-Wall -Wextra -Werror -pedantic)"

# The README's C training loop is the example that is compiled and run below.
if grep -q '^## Using embedgrad from C' README.md; then
    awk '/^## Using embedgrad from C/ { s = 1 } s && /^```c$/ { c = 1; next } c && /^```$/ { exit } c { print }' \
        README.md >"$OUT/readme_example.c"
    if diff -u ffi/examples/train_minimal.c "$OUT/readme_example.c" >"$OUT/readme_example.diff"; then
        echo "README's C training loop = ffi/examples/train_minimal.c"
    else
        fail "README.md's C training loop differs from ffi/examples/train_minimal.c (see $OUT/readme_example.diff)"
    fi
else
    echo "README.md has no section 'Using embedgrad from C' yet: its example is not compared"
fi

# Every function of the header is called by the bad-input test (checked after its ARM build).
grep -oE '\beg_[a-z_]+\(' ffi/include/embedgrad.h | tr -d '(' | sort -u >"$OUT/api.txt"
echo "$(wc -l <"$OUT/api.txt") functions"

# ----- reference ------------------------------------------------------------------------------

step "reference: embedgrad-sim train mlp_xor --precision f32 --json"
cargo run -q --release -p embedgrad-host-sim -- train mlp_xor --precision f32 --json >"$OUT/sim.jsonl"
ref=$(tail -n 1 "$OUT/sim.jsonl")
echo "$ref"
num() { sed -n "s/.*\"$1\":\([-+0-9.eE]*\).*/\1/p" <<<"$ref"; }
ref_loss=$(num final_loss)
ref_acc=$(num accuracy)
ref_sum=$(sed -n 's/.*"checksum":"\([0-9a-f]*\)".*/\1/p' <<<"$ref")
if [[ -z "$ref_loss" || -z "$ref_acc" || -z "$ref_sum" ]]; then
    echo "ci.sh: could not read final_loss, accuracy and checksum from: $ref" >&2
    exit 1
fi
cat >"$OUT/reference.h" <<EOF
/* Generated by ffi/ci.sh from: embedgrad-sim train mlp_xor --precision f32 --json */
#define EG_REF_FINAL_LOSS $ref_loss
#define EG_REF_ACCURACY $ref_acc
#define EG_REF_CHECKSUM 0x${ref_sum}ull
EOF
echo "series_reference: the time-series graphs of tests/time_series.c in Rust"
cargo run -q --release -p embedgrad-ffi --example series_reference >"$OUT/series_reference.h"

# ----- host -----------------------------------------------------------------------------------

# run NAME CMD...: runs a test; it must exit 0 and end with "N passed, 0 failed".
run() {
    local name=$1 log="$OUT/${1//[^A-Za-z0-9_]/_}.log" rc=0
    shift
    timeout "$QEMU_TIMEOUT" "$@" >"$log" 2>&1 </dev/null || rc=$?
    local summary
    summary=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
    if ((rc != 0)) || [[ "$summary" != *", 0 failed" ]]; then
        fail "$name: exit status $rc${summary:+, $summary} (log: $log)"
        sed 's/^/    | /' "$log" | tail -n 40 >&2
    else
        echo "$name: $summary"
    fi
}

step "host library"
cargo build -q --release -p embedgrad-ffi
# The system libraries Rust's std needs on this platform (the same for every staticlib).
echo "" >"$OUT/empty.rs"
NATIVE_LIBS=$(rustc --crate-type staticlib --edition 2021 -o "$OUT/libempty.a" "$OUT/empty.rs" \
    --print native-static-libs 2>&1 | sed -n 's/.*native-static-libs: //p')
echo "$HOST_LIB ($(du -k "$HOST_LIB" | cut -f1) KiB archive), linked with: $NATIVE_LIBS"
read -r -a NATIVE <<<"$NATIVE_LIBS"

step "host tests (AddressSanitizer + UBSan)"
for t in "${TESTS[@]}"; do
    if gcc -std=c99 "${CWARN[@]}" -ffp-contract=off "${SAN[@]}" -Iffi/include -Iffi/tests -I"$OUT" \
        "ffi/tests/$t.c" "$HOST_LIB" "${NATIVE[@]}" -o "$OUT/$t"; then
        run "host/$t" "$OUT/$t"
    else
        fail "host/$t: build"
    fi
done

if g++ -std=c++11 "${CWARN[@]}" -Iffi/include -Iffi/tests -x c++ ffi/tests/header_use.c -x none \
    "$HOST_LIB" "${NATIVE[@]}" -o "$OUT/header_use_cxx"; then
    run "host/header_use (C++11)" "$OUT/header_use_cxx"
else
    fail "host/header_use (C++11): build"
fi

step "host example: C, C++, Makefile, CMake"
if gcc -std=c99 "${CWARN[@]}" -O2 "${SAN[@]}" -Iffi/include ffi/examples/train_minimal.c "$HOST_LIB" \
    "${NATIVE[@]}" -o "$OUT/train_minimal"; then
    if "$OUT/train_minimal" >"$OUT/train_minimal.log" 2>&1; then
        echo "train_minimal (C99): $(tail -n 1 "$OUT/train_minimal.log")"
    else
        fail "train_minimal (C99) exited non-zero"
    fi
else
    fail "train_minimal: build as C99"
fi
if g++ -std=c++11 "${CWARN[@]}" -O2 -Iffi/include -x c++ ffi/examples/train_minimal.c -x none \
    "$HOST_LIB" "${NATIVE[@]}" -o "$OUT/train_minimal_cxx" && "$OUT/train_minimal_cxx" >/dev/null; then
    echo "train_minimal (C++11): ok"
else
    fail "train_minimal as C++11"
fi
if make -s -C ffi/examples run OUT="$PWD/$OUT/make" >"$OUT/make.log" 2>&1; then
    echo "make -C ffi/examples run: $(tail -n 1 "$OUT/make.log")"
else
    fail "make -C ffi/examples run (log: $OUT/make.log)"
fi
if ((!QUICK)) && command -v cmake >/dev/null; then
    if cmake -S ffi/examples -B "$OUT/cmake" >"$OUT/cmake.log" 2>&1 &&
        cmake --build "$OUT/cmake" >>"$OUT/cmake.log" 2>&1 &&
        "$OUT/cmake/train_minimal" >>"$OUT/cmake.log" 2>&1; then
        echo "cmake -S ffi/examples: $(tail -n 1 "$OUT/cmake.log")"
    else
        fail "cmake example (log: $OUT/cmake.log)"
    fi
else
    echo "cmake example: skipped (${QUICK:+--quick or }cmake not installed)"
fi

if ((!QUICK)); then
    step "host: a library built with other capacities (16 nodes, 1024 scalars)"
    if EMBEDGRAD_FFI_NODES=16 EMBEDGRAD_FFI_SCALARS=1024 cargo build -q --release -p embedgrad-ffi \
        --target-dir "$OUT/small"; then
        if gcc -std=c99 "${CWARN[@]}" "${SAN[@]}" -DEG_NODES=16 -DEG_SCALARS=1024 -Iffi/include \
            -Iffi/tests -I"$OUT" ffi/tests/bad_inputs.c "$OUT/small/release/libembedgrad_ffi.a" \
            "${NATIVE[@]}" -o "$OUT/bad_inputs_small"; then
            run "host/bad_inputs (16 nodes, 1024 scalars)" "$OUT/bad_inputs_small"
        else
            fail "bad_inputs with other capacities: build"
        fi
    else
        fail "library with EMBEDGRAD_FFI_NODES=16 EMBEDGRAD_FFI_SCALARS=1024: build"
    fi
fi

# ----- Cortex-M4F -------------------------------------------------------------------------------

step "Cortex-M4F library ($RUST_TARGET, feature panic-never)"
cargo build -q --release -p embedgrad-ffi --target "$RUST_TARGET" --features panic-never
echo "$ARM_LIB ($(du -k "$ARM_LIB" | cut -f1) KiB archive, of which a firmware links only what it calls)"

# link NAME OBJ...: links a firmware; a panic path reachable from it fails the link.
LINK=(arm-none-eabi-gcc "${ARCH[@]}" --specs=rdimon.specs -nostartfiles -T ffi/tests/arm/link.ld
    -Wl,--gc-sections -Wl,-z,noexecstack)
link() {
    local name=$1
    shift
    if ! "${LINK[@]}" -Wl,-Map="$ARM_OUT/$name.map" "$@" -lm -o "$ARM_OUT/$name.elf" \
        2>"$ARM_OUT/$name.link.log"; then
        if grep -q embedgrad_ffi_error_a_panic_path_remains "$ARM_OUT/$name.link.log"; then
            fail "$name: a panic path of the library is reachable (undefined reference to embedgrad_ffi_error_a_panic_path_remains)"
        else
            fail "$name: link"
        fi
        sed 's/^/    | /' "$ARM_OUT/$name.link.log" | head -n 20 >&2
        return 1
    fi
}
QEMU=(qemu-system-arm -machine mps2-an386 -nographic -semihosting-config enable=on,target=native -kernel)

step "Cortex-M4F tests in QEMU (mps2-an386)"
arm-none-eabi-gcc "${ARCH[@]}" -O2 -std=gnu99 -Wall -Wextra -Werror -c ffi/tests/arm/startup_cm.c \
    -o "$ARM_OUT/startup.o"
ARM_CFLAGS=("${ARCH[@]}" -O2 -std=c99 "${CWARN[@]}" -ffp-contract=off -ffunction-sections -fdata-sections)
for t in "${TESTS[@]}" size_baseline; do
    arm-none-eabi-gcc "${ARM_CFLAGS[@]}" -Iffi/include -Iffi/tests -I"$OUT" -c "ffi/tests/$t.c" -o "$ARM_OUT/$t.o"
done
arm-none-eabi-gcc "${ARM_CFLAGS[@]}" -Iffi/include -c ffi/examples/train_minimal.c -o "$ARM_OUT/train_minimal.o"

arm-none-eabi-nm -u "$ARM_OUT/bad_inputs.o" | awk '{print $2}' | grep '^eg_' | sort -u >"$OUT/called.txt"
printf '%s\n' "${READER_API[@]}" | sort -u >"$OUT/reader_api.txt"
missing=$(comm -23 "$OUT/api.txt" "$OUT/called.txt" | comm -23 - "$OUT/reader_api.txt" | tr '\n' ' ')
in_gate=$(comm -12 "$OUT/called.txt" "$OUT/reader_api.txt" | tr '\n' ' ')
arm-none-eabi-nm -u "$ARM_OUT/$READER_TEST.o" | awk '{print $2}' | grep '^eg_' | sort -u >"$OUT/called_reader.txt"
reader_missing=$(comm -23 "$OUT/reader_api.txt" "$OUT/called_reader.txt" | tr '\n' ' ')
if [[ -n "$missing" ]]; then
    fail "bad_inputs.c does not call: $missing(so neither their bad inputs nor their panic paths are checked)"
elif [[ -n "$in_gate" ]]; then
    fail "bad_inputs.c calls $in_gate(the reader: its firmware would not link with panic-never; test it in $READER_TEST.c)"
elif [[ -n "$reader_missing" ]]; then
    fail "$READER_TEST.c does not call: $reader_missing"
else
    echo "bad_inputs calls all $(wc -l <"$OUT/api.txt") functions of the header but ${READER_API[*]}, which $READER_TEST calls"
fi

# panic_callers ELF: the functions of a firmware that branch to a panic (core::panicking and
# the index, unwrap and str-slicing failures that end in one), one "caller -> callee" a line.
panic_callers() {
    arm-none-eabi-objdump -d --demangle "$1" | awk '
        /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
        /<(core::panicking::|core::slice::index::|core::option::(unwrap|expect)_failed|core::result::unwrap_failed|core::str::slice_error_fail|__rustc::rust_begin_unwind)/ {
            t = $0; sub(/.*</, "", t); sub(/>.*/, "", t); sub(/\+0x[0-9a-f]+$/, "", t)
            if (t != fn) print fn " -> " t
        }' | sort -u
}

for t in "${TESTS[@]}"; do
    link "$t" "$ARM_OUT/startup.o" "$ARM_OUT/$t.o" "$ARM_LIB" && run "qemu/$t" "${QEMU[@]}" "$ARM_OUT/$t.elf"
done
# The reader's firmware links because the test defines the handler's function: check that
# only serde-json-core's and core's own functions can reach it.
if [[ -f "$ARM_OUT/$READER_TEST.elf" ]]; then
    panic_callers "$ARM_OUT/$READER_TEST.elf" >"$ARM_OUT/$READER_TEST.panics"
    others=$(awk -F' -> ' '$1 !~ /^<?(&mut )?serde_json_core::|^<?core::|^__rustc::/' "$ARM_OUT/$READER_TEST.panics")
    if [[ -n "$others" ]]; then
        fail "$READER_TEST: panic paths outside serde-json-core (log: $ARM_OUT/$READER_TEST.panics)"
        sed 's/^/    | /' <<<"$others" | head -n 20 >&2
    else
        echo "$READER_TEST: the only callers of a panic are serde-json-core's ($(grep -c serde_json_core "$ARM_OUT/$READER_TEST.panics") call sites) and core's panic machinery"
    fi
fi
if link train_minimal "$ARM_OUT/startup.o" "$ARM_OUT/train_minimal.o" "$ARM_LIB"; then
    if timeout "$QEMU_TIMEOUT" "${QEMU[@]}" "$ARM_OUT/train_minimal.elf" >"$OUT/qemu_train_minimal.log" 2>&1 </dev/null; then
        echo "qemu/train_minimal: $(tail -n 1 "$OUT/qemu_train_minimal.log")"
    else
        fail "qemu/train_minimal exited non-zero (log: $OUT/qemu_train_minimal.log)"
    fi
fi
if make -s -C ffi/examples run BOARD=mps2-an386 CARGO_FLAGS=--features=panic-never \
    OUT="$PWD/$OUT/make" >"$OUT/make_arm.log" 2>&1; then
    echo "make -C ffi/examples run BOARD=mps2-an386: $(tail -n 1 "$OUT/make_arm.log")"
else
    fail "make -C ffi/examples run BOARD=mps2-an386 (log: $OUT/make_arm.log)"
fi
grep -h "stack high-water" "$OUT"/qemu_train_mlp_xor.log 2>/dev/null || true

# The same panic-never proof at the other opt-levels a firmware is built at (the library above
# is opt-level 3): at `s`, `z` (usual on a Cortex-M0) and 2 the bad-input test, which calls
# every function of the header but the reader, must link and pass too.
for lvl in s z 2; do
    lib_dir=${CARGO_TARGET_DIR:-target}/ffi-gate-o$lvl
    features=panic-never
    # At s and z core's slice functions stay out of line in the library's kernels (at 2 and 3
    # they are inlined and their checks fold away): embedgrad-core's `total-slices` (nopanic).
    [[ $lvl != 2 ]] && features=panic-never,embedgrad-core/total-slices
    if CARGO_PROFILE_RELEASE_OPT_LEVEL=$lvl cargo build -q --release -p embedgrad-ffi --target "$RUST_TARGET" \
        --features "$features" --target-dir "$lib_dir" >"$ARM_OUT/lib-o$lvl.log" 2>&1; then
        if link "bad_inputs-o$lvl" "$ARM_OUT/startup.o" "$ARM_OUT/bad_inputs.o" "$lib_dir/$RUST_TARGET/release/libembedgrad_ffi.a"; then
            run "qemu/bad_inputs-o$lvl" "${QEMU[@]}" "$ARM_OUT/bad_inputs-o$lvl.elf"
        fi
    else
        fail "library at opt-level $lvl: build (log: $ARM_OUT/lib-o$lvl.log)"
    fi
done
link size_baseline "$ARM_OUT/startup.o" "$ARM_OUT/size_baseline.o" || true

step "other bare-metal targets (build only: no_std, the header's size bound, the panic handler)"
installed=$(rustup target list --installed)
for t in thumbv6m-none-eabi thumbv7m-none-eabi riscv32imac-unknown-none-elf; do
    if grep -qx "$t" <<<"$installed"; then
        if cargo build -q --release -p embedgrad-ffi --target "$t" 2>"$OUT/build-$t.log"; then
            echo "$t: ok"
        else
            fail "build for $t (log: $OUT/build-$t.log)"
        fi
    else
        echo "$t: skipped (rustup target not installed)"
    fi
done

# ----- sizes ----------------------------------------------------------------------------------

step "what the library adds to a Cortex-M4F C firmware (arm-none-eabi-size, bytes)"
# lib_share MAP: text, data and bss of the input sections that came from libembedgrad_ffi.a.
lib_share() {
    awk '
        function hex(s,    i, n) {
            n = 0
            s = tolower(s)
            sub(/^0x/, "", s)
            for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return n
        }
        /^Linker script and memory map/ { on = 1; next }
        !on { next }
        /^ [.A-Za-z_]/ && NF == 1 { sec = $1; next }
        /^ [.A-Za-z_]/ && NF >= 4 && $2 ~ /^0x/ && $3 ~ /^0x/ { sec = $1; size = $3; file = $4 }
        /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / && NF >= 3 { size = $2; file = $3 }
        file ~ /libembedgrad_ffi\.a\(/ {
            if (sec ~ /^\.bss/ || sec == "COMMON") bss += hex(size)
            else if (sec ~ /^\.data/) data += hex(size)
            else if (sec ~ /^\.(text|rodata|ARM)/) text += hex(size)
        }
        { file = "" }
        END { printf "%d %d %d\n", text, data, bss }' "$1"
}
size_row() {
    local name=$1 elf="$ARM_OUT/$1.elf"
    [[ -f "$elf" ]] || { printf '%-16s (not built)\n' "$name"; return; }
    read -r text data bss _ < <(arm-none-eabi-size "$elf" | tail -n 1)
    if [[ "$name" == size_baseline ]]; then
        base_text=$text base_data=$data base_bss=$bss
        printf '%-16s %8d %6d %8d   %-22s %s\n' "$name" "$text" "$data" "$bss" "-" "no embedgrad: startup, newlib printf, semihosting"
    else
        read -r lt ld lb < <(lib_share "$ARM_OUT/$name.map")
        printf '%-16s %8d %6d %8d   %+7d %+5d %+7d   %6d %4d %4d\n' "$name" "$text" "$data" "$bss" \
            $((text - base_text)) $((data - base_data)) $((bss - base_bss)) "$lt" "$ld" "$lb"
    fi
}
if [[ -f "$ARM_OUT/size_baseline.elf" ]]; then
    printf '%-16s %8s %6s %8s   %-22s %s\n' firmware text data bss "vs baseline" "from libembedgrad_ffi.a (text data bss)"
    for n in size_baseline train_minimal train_mlp_xor bad_inputs weights_checkpoints; do size_row "$n"; done
    printf '#include <stdio.h>\n#include "embedgrad.h"\nint main(void) { printf("%%u\\n", (unsigned)sizeof(eg_graph_storage)); return 0; }\n' >"$OUT/storage_size.c"
    gcc -Iffi/include "$OUT/storage_size.c" -o "$OUT/storage_size"
    echo "bss includes each firmware's static eg_graph_storage of $("$OUT/storage_size") bytes (bad_inputs has five,"
    echo "weights_checkpoints three and a 16 KiB RAM flash);"
    echo "the last three columns are the input sections linked from libembedgrad_ffi.a."
fi

# ----- result ---------------------------------------------------------------------------------

if ((${#FAILS[@]})); then
    printf '\n%d failure(s):\n' "${#FAILS[@]}"
    printf '  - %s\n' "${FAILS[@]}"
    exit 1
fi
printf '\nall C API checks passed\n'
