#!/usr/bin/env bash
# Firmware CI for embedgrad.
#
# Checks that expected.txt (embedgrad-sim's f32 results) and the models in boards/weights/
# (embedgrad-sim train digits --save; the int8 ones of embedgrad-data's int8_reference) are up
# to date, builds every example
# firmware (src/bin/*.rs of boards/) for every QEMU board, runs each one in QEMU under
# `timeout` (each trains a seed example on the device and passes only when it reproduces the
# simulator's final loss and accuracy), decodes its defmt log, counts the instructions of one
# training step with the TCG plugin in tools/insncount.c, measures flash, RAM, the stack
# high-water mark and the QEMU wall time, prints a table and enforces budgets.txt. It also runs
# the federated client fleet_client in job directories (against embedgrad-sim fleet-client,
# bit for bit, and through a power cut and its resume), the self-tests (a failing, a
# panicking and a faulting firmware must exit 1, 101 and 3; a firmware whose graph overflows
# the stack must end in a reported fault with the user's statics intact, and fail to link
# when it declares its graph's size), checks that every Cortex-M firmware has flip-link's
# layout (statics above the stack), `cargo test` on every board, the panic-never gate, fmt and clippy, and a build for the real
# nRF52840 board. Exits non-zero on any failure.
#
# Usage: ./ci.sh [--quick] [--slow]
#   --quick          skip fmt, clippy, `cargo test` and the nRF52840 build
#   --slow           also train the examples that take minutes in QEMU (spiral_deep on the
#                    soft-float boards; feature `slow`); about 30 more minutes
#   BOARDS="microbit mps2-an386" ./ci.sh    only these boards
#   NO_INSTALL=1 ./ci.sh                    never install missing tools
#
# Logs and raw outputs go to target/ci/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
QUICK=0
SLOW=0
for arg in "$@"; do
    case "$arg" in
        --quick) QUICK=1 ;;
        --slow) SLOW=1 ;;
        -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "ci.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

# ----- boards -------------------------------------------------------------------------------

ALL_BOARDS=(microbit lm3s6965evb mps2-an386 qemu-virt-rv32)
declare -A TARGET=(
    [microbit]=thumbv6m-none-eabi
    [lm3s6965evb]=thumbv7m-none-eabi
    [mps2-an386]=thumbv7em-none-eabihf
    [qemu-virt-rv32]=riscv32imac-unknown-none-elf
)
declare -A QEMU=(
    [microbit]="qemu-system-arm -machine microbit"
    [lm3s6965evb]="qemu-system-arm -machine lm3s6965evb"
    [mps2-an386]="qemu-system-arm -machine mps2-an386"
    [qemu-virt-rv32]="qemu-system-riscv32 -machine virt -bios none"
)
# RAM of each memory map (boards/memory/*.x): static data plus stack must fit in it.
declare -A RAM_BYTES=(
    [microbit]=$((16 * 1024))
    [lm3s6965evb]=$((64 * 1024))
    [mps2-an386]=$((4 * 1024 * 1024))
    [qemu-virt-rv32]=$((16 * 1024 * 1024))
)
read -r -a BOARD_LIST <<<"${BOARDS:-${ALL_BOARDS[*]}}"
for b in "${BOARD_LIST[@]}"; do
    [[ -n "${TARGET[$b]:-}" ]] || { echo "ci.sh: unknown board '$b' (known: ${ALL_BOARDS[*]})" >&2; exit 2; }
done

QEMU_TIMEOUT=120
FEATURES=()
if ((SLOW)); then
    QEMU_TIMEOUT=1800
    FEATURES=(--features slow)
fi
OUT=target/ci
mkdir -p "$OUT"
FAILS=()
fail() { FAILS+=("$*"); echo "FAIL: $*" >&2; }
step() { printf '\n== %s\n' "$*"; }

# ----- tools (installed only when missing) --------------------------------------------------

step "tools"
export PATH="$HOME/.cargo/bin:$PATH"
if [[ -z "${NO_INSTALL:-}" ]]; then
    apt_pkgs=()
    command -v qemu-system-arm >/dev/null || apt_pkgs+=(qemu-system-arm)
    command -v qemu-system-riscv32 >/dev/null || apt_pkgs+=(qemu-system-misc)
    command -v arm-none-eabi-gcc >/dev/null || apt_pkgs+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
    command -v gcc >/dev/null || apt_pkgs+=(gcc libc6-dev)
    if ((${#apt_pkgs[@]})); then
        sudo=()
        [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
        echo "installing: ${apt_pkgs[*]}"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"
    fi
    installed_targets=$(rustup target list --installed)
    for b in "${ALL_BOARDS[@]}"; do
        t=${TARGET[$b]}
        grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
    done
    installed_components=$(rustup component list --installed)
    for c in llvm-tools rustfmt clippy; do
        grep -q "^$c" <<<"$installed_components" || rustup component add "$c"
    done
    command -v defmt-print >/dev/null || cargo install --locked defmt-print
    # The Cortex-M linker (.cargo/config.toml): the stack below the statics.
    command -v flip-link >/dev/null || cargo install --locked flip-link
fi
LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
for tool in "$LLVM_BIN/llvm-size" "$LLVM_BIN/llvm-nm" "$LLVM_BIN/llvm-objdump"; do
    [[ -x "$tool" ]] || { echo "ci.sh: $tool missing (rustup component add llvm-tools)" >&2; exit 1; }
done
for tool in qemu-system-arm qemu-system-riscv32 defmt-print flip-link gcc timeout; do
    command -v "$tool" >/dev/null || { echo "ci.sh: $tool missing" >&2; exit 1; }
done
qemu-system-arm --version | head -n 1

PLUGIN="$PWD/target/tools/libinsncount.so"
mkdir -p "$(dirname "$PLUGIN")"
gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$PLUGIN" tools/insncount.c
echo "plugin: target/tools/libinsncount.so"

# ----- fmt and clippy ----------------------------------------------------------------------

if ((!QUICK)); then
    step "fmt and clippy"
    cargo fmt -- --check || fail "cargo fmt --check"
    cargo clippy -q --workspace --target thumbv7em-none-eabihf --bins --examples --tests -- -D warnings ||
        fail "clippy thumbv7em-none-eabihf"
    for t in riscv32imac-unknown-none-elf thumbv6m-none-eabi thumbv7m-none-eabi; do
        cargo clippy -q --target "$t" --bins --examples --tests -- -D warnings || fail "clippy $t"
    done
    cargo clippy -q --target thumbv7em-none-eabihf --bins --features board-nrf52840 -- -D warnings ||
        fail "clippy thumbv7em-none-eabihf board-nrf52840"
fi

# ----- helpers -----------------------------------------------------------------------------

# sym ELF NAME: the address of a symbol, 0x-prefixed.
sym() { "$LLVM_BIN/llvm-nm" "$1" | awk -v s="$2" '$3 == s { print "0x" $1; exit }'; }

# sizes ELF: "FLASH RAM" in bytes. FLASH = everything loaded into the image (vector table,
# code, read-only data, initialised data); RAM = .data + .bss + .uninit (the stack is separate).
sizes() {
    "$LLVM_BIN/llvm-size" -A "$1" | awk '
        $1 ~ /^\.(vector_table|text|init|trap|rodata|srodata|eh_frame|gnu\.sgstubs)/ { flash += $2 }
        $1 ~ /^\.s?data/                                                        { flash += $2; ram += $2 }
        $1 ~ /^\.(s?bss|uninit)/                                                { ram += $2 }
        END { print flash + 0, ram + 0 }'
}

# layout_ok ELF: on Cortex-M, flip-link's layout: every RAM section (.data, .bss, .uninit)
# starts at or above _stack_start, the top of the stack, so an overflowing stack cannot reach
# a static. Prints the offending section otherwise.
layout_ok() {
    local top
    top=$(sym "$1" _stack_start)
    [[ -n "$top" ]] || { echo "no _stack_start"; return 1; }
    "$LLVM_BIN/llvm-size" -A "$1" | awk -v top="$((top))" '
        $1 ~ /^\.(data|bss|uninit)$/ && $2 > 0 && $3 < top { printf "%s at %#x below the stack top %#x\n", $1, $3, top; bad = 1 }
        END { exit bad }'
}

# run_fw BOARD ELF NAME [plugin]: runs a firmware in QEMU; leaves NAME.{raw,log,err,insns} in
# $OUT/BOARD, the exit status in $RC and the wall and CPU (user) seconds of QEMU in $WALL and
# $CPU. The plugin is attached when asked for and the firmware has the bench markers (a
# skipped example has none: the optimizer removes its training code).
run_fw() {
    local board=$1 elf=$2 name=$3 with_plugin=${4:-}
    local dir="$OUT/$board"
    mkdir -p "$dir"
    local -a qemu
    read -r -a qemu <<<"${QEMU[$board]}"
    qemu+=(-nographic -semihosting-config enable=on,target=native -kernel "$elf")
    rm -f "$dir/$name.insns"
    if [[ -n "$with_plugin" ]]; then
        local s e
        s=$(sym "$elf" bench_start || true)
        e=$(sym "$elf" bench_stop || true)
        if [[ -n "$s" && -n "$e" ]]; then
            qemu+=(-d plugin -D "$dir/$name.insns" -plugin "$PLUGIN,start=$s,stop=$e")
        fi
    fi
    RC=0
    local TIMEFORMAT='%R %U'
    { time timeout "$QEMU_TIMEOUT" "${qemu[@]}" >"$dir/$name.raw" 2>"$dir/$name.err" </dev/null; } \
        2>"$dir/$name.time" || RC=$?
    read -r WALL CPU <"$dir/$name.time" || true
    CPU=$(awk -v c="${CPU:-}" 'BEGIN { if (c == "") print "?"; else printf "%.1f", c }')
    defmt-print -e "$elf" <"$dir/$name.raw" >"$dir/$name.log" 2>>"$dir/$name.err" || true
}

show_log() {
    local f
    for f in "$@"; do
        [[ -s "$f" ]] && sed 's/^/    | /' "$f" >&2
    done
    return 0
}

# ----- expected results --------------------------------------------------------------------

step "expected.txt (embedgrad-sim's f32 results) and the digits weights up to date"
if ./gen-expected.sh "$OUT/expected.txt" "$OUT/digits.safetensors" >"$OUT/gen-expected.log" 2>&1; then
    if diff -u expected.txt "$OUT/expected.txt"; then
        echo "expected.txt matches embedgrad-sim"
    else
        fail "expected.txt is stale: run ./gen-expected.sh and commit it"
    fi
    # The pre-trained model the fine-tuning firmwares bake into flash: the bytes that
    # `embedgrad-sim train digits --save` writes (deterministic).
    if cmp boards/weights/digits.safetensors "$OUT/digits.safetensors"; then
        echo "boards/weights/digits.safetensors matches embedgrad-sim train digits --save"
    else
        fail "boards/weights/digits.safetensors is stale: run ./gen-expected.sh and commit it"
    fi
    # The int8 models of the inference firmwares (embedgrad-data's example int8_reference).
    for w in digits_int8 exercises_int8; do
        if cmp "boards/weights/$w.safetensors" "$OUT/$w.safetensors"; then
            echo "boards/weights/$w.safetensors matches int8_reference's"
        else
            fail "boards/weights/$w.safetensors is stale: run ./gen-expected.sh and commit it"
        fi
    done
else
    fail "gen-expected.sh failed (see $OUT/gen-expected.log)"
    show_log "$OUT/gen-expected.log"
fi

# ----- budgets -----------------------------------------------------------------------------

# budgets.txt: "board example max_flash max_ram [max_insns]"; '-' = unchecked.
declare -A B_FLASH B_RAM B_INSNS
while read -r b e f r i _; do
    [[ -z "${b:-}" || "$b" == \#* ]] && continue
    B_FLASH[$b/$e]=$f
    B_RAM[$b/$e]=$r
    B_INSNS[$b/$e]=${i:--}
done <budgets.txt

within() { [[ "$2" == "-" ]] || { [[ "$1" =~ ^[0-9]+$ ]] && ((${1} <= ${2})); }; }

# ----- examples, per board -----------------------------------------------------------------

EXAMPLES=()
for f in boards/src/bin/*.rs; do EXAMPLES+=("$(basename "$f" .rs)"); done
SELFTESTS=("selftest_fail:1:^FAIL " "selftest_panic:101:^PANIC " "selftest_fault:3:^FAULT ")
ROWS=()
SKIPS=()
FT_ROWS=()
INF_ROWS=()
declare -A SEEN

# metric LOG KEY: the value of KEY=... on the last METRIC line that has it.
metric() { sed -n "s/^METRIC .*\<$2=\([^ ]*\).*/\1/p" "$1" | tail -n 1; }

for board in "${BOARD_LIST[@]}"; do
    t=${TARGET[$board]}
    step "$board ($t)"
    if ! cargo build -q --release --target "$t" --bins --examples "${FEATURES[@]}"; then
        fail "$board: build"
        continue
    fi
    if [[ "$board" == "mps2-an386" ]] &&
        ! cargo build -q --profile release-o3 --target "$t" --bins "${FEATURES[@]}"; then
        fail "$board: build at opt-level 3"
        continue
    fi
    for ex in "${EXAMPLES[@]}"; do
        # The fleet client needs a job directory: its own section below (it logs SKIP on
        # the other boards, which the loop checks as usual).
        [[ "$ex" == fleet_client && "$board" == mps2-an386 ]] && continue
        elf="target/$t/release/$ex"
        run_fw "$board" "$elf" "$ex" plugin
        wall=${WALL:-?} cpu=${CPU:-?}
        log="$OUT/$board/$ex.log"
        key="$board/$ex"
        SEEN[$key]=1
        read -r flash ram < <(sizes "$elf")
        if ((RC == 0)) && grep -q "^SKIP $ex: " "$log"; then
            reason=$(sed -n "s/^SKIP $ex: //p" "$log")
            ROWS+=("$board|$ex|-|$flash|$ram|-|-|-|-|-|$cpu|-|-|skipped|-")
            SKIPS+=("$key: $reason")
            echo "$ex: skipped ($reason)"
            continue
        fi
        stack=$(metric "$log" stack_hwm_bytes)
        batch=$(metric "$log" batch)
        graph=$(metric "$log" graph_bytes)
        loss=$(metric "$log" final_loss)
        sim=$(metric "$log" reference_loss)
        insns=$(sed -n 's/^insns: \([0-9]*\)$/\1/p' "$OUT/$board/$ex.insns" 2>/dev/null | head -n 1 || true)
        status=ok
        if ((RC != 0)) || ! grep -q "^PASS $ex\$" "$log"; then
            status="exit $RC"
            fail "$board/$ex: exit status $RC (log: $OUT/$board/$ex.log)"
            show_log "$log" "$OUT/$board/$ex.err"
        fi
        [[ -n "$stack" ]] || { stack="?"; fail "$board/$ex: no stack_hwm_bytes line"; }
        [[ -n "$insns" ]] || { insns="?"; fail "$board/$ex: no instruction count"; }
        total="?"
        if [[ "$stack" =~ ^[0-9]+$ ]]; then
            total=$((ram + stack))
            if ((total >= RAM_BYTES[$board])); then
                fail "$board/$ex: static RAM $ram + stack $stack = $total B fills the board's ${RAM_BYTES[$board]} B (stack overflow?)"
            fi
        fi
        budget="none"
        if [[ -n "${B_FLASH[$key]:-}" ]]; then
            budget="ok"
            within "$flash" "${B_FLASH[$key]}" || { budget="OVER"; fail "$key: flash $flash B > budget ${B_FLASH[$key]} B"; }
            within "$total" "${B_RAM[$key]}" || { budget="OVER"; fail "$key: RAM incl. stack $total B > budget ${B_RAM[$key]} B"; }
            within "$insns" "${B_INSNS[$key]}" || { budget="OVER"; fail "$key: $insns instructions/step > budget ${B_INSNS[$key]}"; }
        fi
        # The Cortex-M4F is measured at opt-level 3 too (profile release-o3): the same firmware,
        # which must pass there as well.
        insns3="-"
        if [[ "$board" == "mps2-an386" ]]; then
            elf3="target/$t/release-o3/$ex"
            run_fw "$board" "$elf3" "$ex-o3" plugin
            insns3=$(sed -n 's/^insns: \([0-9]*\)$/\1/p' "$OUT/$board/$ex-o3.insns" 2>/dev/null | head -n 1 || true)
            if ((RC != 0)) || ! grep -q "^PASS $ex\$" "$OUT/$board/$ex-o3.log"; then
                fail "$board/$ex at opt-level 3: exit status $RC (log: $OUT/$board/$ex-o3.log)"
                show_log "$OUT/$board/$ex-o3.log" "$OUT/$board/$ex-o3.err"
            fi
            [[ -n "$insns3" ]] || { insns3="?"; fail "$board/$ex at opt-level 3: no instruction count"; }
        fi
        ROWS+=("$board|$ex|${batch:-?}|$flash|$ram|$stack|$total|${graph:-?}|$insns|$insns3|$cpu|${loss:-?}|${sim:-?}|$status|$budget")
        # The inference firmwares (f32 against int8): one inference, sizes, held-out count.
        if [[ "$ex" == infer_* ]]; then
            INF_ROWS+=("$board|$ex|$flash|$ram|$stack|$total|$insns|$(metric "$log" test_correct)/$(metric "$log" test_total)")
        fi
        # The fine-tuning firmwares also measure the weight-file reader: the plugin's lines
        # after the first step's, named by their `reader_marks` line in order.
        marks=$(metric "$log" reader_marks)
        if [[ -n "$marks" ]]; then
            IFS=, read -r -a mark_names <<<"$marks"
            mapfile -t mark_counts < <(sed -n 's/^insns: \([0-9]*\)$/\1/p' "$OUT/$board/$ex.insns" 2>/dev/null | tail -n +2)
            if ((${#mark_counts[@]} != ${#mark_names[@]})); then
                fail "$board/$ex: ${#mark_counts[@]} reader counts for the ${#mark_names[@]} marks '$marks'"
            fi
            accs="$(metric "$log" original_correct) $(metric "$log" before_correct) $(metric "$log" after_correct)"
            FT_ROWS+=("$ex|$(metric "$log" trainable)|$flash|$ram|$stack|$total|${graph:-?}|$(metric "$log" trainer_bytes)|$(metric "$log" file_buffer_bytes)|$insns|$insns3|$accs|$marks|${mark_counts[*]}")
        fi
        echo "$ex: exit $RC in $wall s ($cpu s CPU), B=${batch:-?}, flash $flash B, RAM $ram B + stack $stack B, $insns instructions/step, final loss ${loss:-?} (sim ${sim:-?})"
    done

    for st in "${SELFTESTS[@]}"; do
        IFS=: read -r name want pattern <<<"$st"
        run_fw "$board" "target/$t/release/examples/$name" "$name"
        if ((RC != want)) || ! grep -q "$pattern" "$OUT/$board/$name.log"; then
            fail "$board/$name: exit $RC, expected $want and a '$pattern' line"
            show_log "$OUT/$board/$name.log" "$OUT/$board/$name.err"
        else
            echo "$name: exit $RC as expected"
        fi
    done

    # Stack overflow: a graph bigger than the board's stack. It must end in the fault handler
    # (exit 3, 'FAULT stack overflow') with both user statics intact; on the Cortex-M0, whose
    # architecture cannot push the HardFault frame onto an overflowed stack, in QEMU's lockup
    # abort (the statics are out of the stack's reach by flip-link's layout, checked below).
    name=selftest_overflow
    elf="target/$t/release/examples/$name"
    run_fw "$board" "$elf" "$name"
    if [[ "$board" == microbit ]]; then
        if ((RC == 0 || RC == 1 || RC == 124)) || ! grep -q "Lockup" "$OUT/$board/$name.err"; then
            fail "$board/$name: exit $RC, expected QEMU's lockup abort ('Lockup' on stderr)"
            show_log "$OUT/$board/$name.log" "$OUT/$board/$name.err"
        else
            echo "$name: exit $RC, $(grep -m1 -o 'Lockup[^(]*' "$OUT/$board/$name.err")(no handler on ARMv6-M)"
        fi
    elif ((RC != 3)) || ! grep -q "^FAULT stack overflow" "$OUT/$board/$name.log" ||
        ! grep -q "^FAULT user statics intact" "$OUT/$board/$name.log"; then
        fail "$board/$name: exit $RC, expected 3, a 'FAULT stack overflow' and a 'FAULT user statics intact' line"
        show_log "$OUT/$board/$name.log" "$OUT/$board/$name.err"
    else
        echo "$name: exit 3 as expected:"
        grep '^FAULT' "$OUT/$board/$name.log" | sed 's/^/    /'
    fi
    if [[ "$t" == thumb* ]]; then
        for elf in "${EXAMPLES[@]/#/target/$t/release/}" \
            target/"$t"/release/examples/{selftest_fail,selftest_panic,selftest_fault,selftest_overflow}; do
            why=$(layout_ok "$elf") || fail "$board: $(basename "$elf") lacks flip-link's layout: $why"
        done
        echo "flip-link layout (statics above the stack): checked for every firmware"
    fi
    # Known at build time: declaring the graph's size (Example::stack) must fail the link.
    if EMBEDGRAD_SELFTEST_DECLARE_STACK=1 cargo build -q --release --target "$t" --example "$name" \
        >"$OUT/$board/$name-declared.log" 2>&1; then
        fail "$board/$name with its stack need declared: linked, expected the build-time stack check to fail"
    elif ! grep -q "stack overflow at build time" "$OUT/$board/$name-declared.log"; then
        fail "$board/$name with its stack need declared: the build failed, but not on the stack check"
        show_log "$OUT/$board/$name-declared.log"
    else
        echo "$name with its stack need declared: the link fails ('stack overflow at build time')"
    fi

    if ((!QUICK)); then
        if cargo test -q --release --target "$t" >"$OUT/$board/cargo-test.log" 2>&1; then
            echo "cargo test --release --target $t: ok"
        else
            fail "$board: cargo test --release --target $t"
            show_log "$OUT/$board/cargo-test.log"
        fi
    fi
done

# ----- the federated client ---------------------------------------------------------------

# fleet_client (boards/src/fleet.rs) in job directories, as the fleet's gateway runs it: the
# initial global model from `embedgrad-sim fleet-client --init`, one round in QEMU against the
# same round on the host (bitwise: the same libm maths), a power cut after epoch 2 and the
# resume (the same bytes as the uninterrupted run), a checkpoint of another job (ignored) and a
# bad job line (exit 1).
FLEET_LINES=()
if [[ " ${BOARD_LIST[*]} " == *" mps2-an386 "* ]]; then
    step "mps2-an386: fleet_client (one federated round; power cut and resume)"
    ex=fleet_client
    elf="$PWD/target/thumbv7em-none-eabihf/release/$ex"
    fdir="$OUT/fleet"
    rm -rf "$fdir"
    mkdir -p "$fdir"/{host,run,cut,other,bad}
    SEEN[mps2-an386/$ex]=1
    # The simulator, built from the root workspace (see gen-expected.sh).
    sim=""
    if (cd .. && cargo build -q --release -p embedgrad-host-sim --bin embedgrad-sim) >"$fdir/sim-build.log" 2>&1; then
        sim="$(cd .. && cargo metadata -q --format-version 1 --no-deps |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/embedgrad-sim"
    fi
    # run_job DIR NAME [plugin]: the firmware in QEMU with DIR as its working directory;
    # NAME.{raw,log,err,insns} in DIR, the exit status in $RC, QEMU's CPU seconds in $CPU.
    run_job() {
        local dir=$1 name=$2 with_plugin=${3:-}
        local -a qemu=(qemu-system-arm -machine mps2-an386 -nographic
            -semihosting-config enable=on,target=native -kernel "$elf")
        if [[ -n "$with_plugin" ]]; then
            qemu+=(-d plugin -D "$name.insns"
                -plugin "$PLUGIN,start=$(sym "$elf" bench_start),stop=$(sym "$elf" bench_stop)")
        fi
        RC=0
        local TIMEFORMAT='%R %U'
        { time (cd "$dir" && timeout "$QEMU_TIMEOUT" "${qemu[@]}" >"$name.raw" 2>"$name.err" </dev/null); } \
            2>"$dir/$name.time" || RC=$?
        read -r _ CPU <"$dir/$name.time" || CPU="?"
        defmt-print -e "$elf" <"$dir/$name.raw" >"$dir/$name.log" 2>>"$dir/$name.err" || true
    }
    fleet_ok=1
    ffail() { fleet_ok=0; fail "mps2-an386/$ex: $*"; }
    if [[ -z "$sim" ]]; then
        ffail "embedgrad-sim did not build (see $fdir/sim-build.log)"
    elif ! "$sim" fleet-client --init --out "$fdir/global.safetensors" >/dev/null; then
        ffail "embedgrad-sim fleet-client --init failed"
    else
        for d in run cut other bad; do cp "$fdir/global.safetensors" "$fdir/$d/"; done
        # The host's round (client 3 of 10, round 7), and client 4's for the foreign checkpoint.
        for c in 3 4; do
            "$sim" fleet-client --client "$c" --clients 10 --round 7 --weights "$fdir/global.safetensors" \
                --out "$fdir/host/local$c.safetensors" --summary "$fdir/host/summary$c.txt" >/dev/null ||
                ffail "embedgrad-sim fleet-client --client $c failed"
        done
        # 1. One uninterrupted round in QEMU, measured.
        echo "3 10 7" >"$fdir/run/job.txt"
        run_job "$fdir/run" round plugin
        round_cpu=$CPU
        if ((RC != 0)) || ! grep -q "^PASS $ex\$" "$fdir/run/round.log"; then
            ffail "one round: exit $RC (log: $fdir/run/round.log)"
            show_log "$fdir/run/round.log" "$fdir/run/round.err"
        elif cmp -s "$fdir/run/local.safetensors" "$fdir/host/local3.safetensors" &&
            cmp -s "$fdir/run/summary.txt" "$fdir/host/summary3.txt"; then
            echo "one round: local.safetensors and summary.txt bit-identical to embedgrad-sim's: $(cat "$fdir/run/summary.txt")"
        else
            ffail "one round: the device's local.safetensors or summary.txt differs from embedgrad-sim's"
            cmp "$fdir/run/local.safetensors" "$fdir/host/local3.safetensors" || true
            diff "$fdir/run/summary.txt" "$fdir/host/summary3.txt" || true
        fi
        # The same round built at opt-level 3 (profile release-o3), measured too.
        mkdir -p "$fdir/o3" && cp "$fdir/global.safetensors" "$fdir/run/job.txt" "$fdir/o3/"
        elf_s=$elf
        elf="$PWD/target/thumbv7em-none-eabihf/release-o3/$ex"
        run_job "$fdir/o3" round plugin
        elf=$elf_s
        if ((RC != 0)) || ! cmp -s "$fdir/o3/local.safetensors" "$fdir/host/local3.safetensors"; then
            ffail "one round at opt-level 3: exit $RC, or local.safetensors differs from embedgrad-sim's"
            show_log "$fdir/o3/round.log" "$fdir/o3/round.err"
        fi
        # 2. The power cut after epoch 2, then the same job again.
        echo "3 10 7 2" >"$fdir/cut/job.txt"
        run_job "$fdir/cut" cut
        if ((RC != 3)) || ! grep -q "^POWER CUT after epoch 2" "$fdir/cut/cut.log" ||
            [[ -e "$fdir/cut/local.safetensors" ]]; then
            ffail "power cut after epoch 2: exit $RC, expected 3, a 'POWER CUT after epoch 2' line and no output"
            show_log "$fdir/cut/cut.log" "$fdir/cut/cut.err"
        fi
        run_job "$fdir/cut" resume
        if ((RC != 0)) || ! grep -q "^RESUME round 7 of client 3 after epoch 2" "$fdir/cut/resume.log"; then
            ffail "resume after the power cut: exit $RC, expected 0 and a 'RESUME ... after epoch 2' line"
            show_log "$fdir/cut/resume.log" "$fdir/cut/resume.err"
        elif cmp -s "$fdir/cut/local.safetensors" "$fdir/run/local.safetensors" &&
            [[ "$(sed 's/ epochs=.*//' "$fdir/cut/summary.txt")" == "$(sed 's/ epochs=.*//' "$fdir/run/summary.txt")" ]] &&
            grep -q ' epochs=2\.\.5$' "$fdir/cut/summary.txt"; then
            echo "power cut after epoch 2 (exit 3), resumed (epochs 2..5): local.safetensors bit-identical to the uninterrupted round's"
        else
            ffail "the resumed round differs from the uninterrupted one"
        fi
        # 3. A checkpoint of another job (client 3's, in the same flash) is ignored.
        cp "$fdir/cut/flash.bin" "$fdir/other/"
        echo "4 10 7" >"$fdir/other/job.txt"
        run_job "$fdir/other" other
        if ((RC != 0)) || ! grep -q "of another job: ignored" "$fdir/other/other.log" ||
            ! cmp -s "$fdir/other/local.safetensors" "$fdir/host/local4.safetensors"; then
            ffail "another job's checkpoint: exit $RC, expected 0, 'ignored' and embedgrad-sim's client 4"
            show_log "$fdir/other/other.log" "$fdir/other/other.err"
        else
            echo "another job's checkpoint in flash.bin: ignored; client 4's round bit-identical to embedgrad-sim's"
        fi
        # 4. A bad job line.
        echo "3 3 7" >"$fdir/bad/job.txt"
        run_job "$fdir/bad" bad
        if ((RC != 1)) || ! grep -q "job.txt: bad job line" "$fdir/bad/bad.log"; then
            ffail "bad job line: exit $RC, expected 1 and a 'job.txt: bad job line' error"
            show_log "$fdir/bad/bad.log"
        else
            echo "bad job line '3 3 7': exit 1, $(grep -m1 '^ERROR' "$fdir/bad/bad.log")"
        fi
    fi
    # Sizes, stack, and the plugin's counts: epoch, checkpoint, epoch, ... (5 of each).
    read -r flash ram < <(sizes "$elf")
    stack=$(metric "$fdir/run/round.log" stack_hwm_bytes 2>/dev/null || true)
    # round_insns FILE: "TRAINING CHECKPOINTS COUNT", the sums of the even and the odd lines
    # and how many there are (10: 5 epochs, 5 checkpoints).
    round_insns() {
        local -a counts
        mapfile -t counts < <(sed -n 's/^insns: \([0-9]*\)$/\1/p' "$1" 2>/dev/null || true)
        local i train=0 saves=0
        for i in "${!counts[@]}"; do
            if ((i % 2 == 0)); then train=$((train + counts[i])); else saves=$((saves + counts[i])); fi
        done
        echo "$train $saves ${#counts[@]}"
    }
    read -r epochs_insns saves_insns n < <(round_insns "$fdir/run/round.insns")
    ((n == 10)) || { ffail "$n instruction counts at opt-level s, expected 10"; epochs_insns="?"; }
    read -r epochs_insns3 saves_insns3 n < <(round_insns "$fdir/o3/round.insns")
    ((n == 10)) || { ffail "$n instruction counts at opt-level 3, expected 10"; epochs_insns3="?"; }
    total="?"
    [[ "${stack:-}" =~ ^[0-9]+$ ]] && total=$((ram + stack))
    key=mps2-an386/$ex
    if [[ -n "${B_FLASH[$key]:-}" ]]; then
        within "$flash" "${B_FLASH[$key]}" || ffail "flash $flash B > budget ${B_FLASH[$key]} B"
        within "$total" "${B_RAM[$key]}" || ffail "RAM incl. stack $total B > budget ${B_RAM[$key]} B"
        within "$epochs_insns" "${B_INSNS[$key]}" || ffail "$epochs_insns instructions/round > budget ${B_INSNS[$key]}"
    fi
    FLEET_LINES+=("flash $flash B, RAM $ram B + stack ${stack:-?} B = $total B")
    FLEET_LINES+=("one round (5 epochs, $(grep -o 'rows=[0-9]*' "$fdir/run/summary.txt" 2>/dev/null || echo 'rows=?') of client 3, $(grep -o 'steps=[0-9]*' "$fdir/run/summary.txt" 2>/dev/null || echo 'steps=?')): $epochs_insns instructions of training, $saves_insns of 5 checkpoints to flash.bin (opt-level 3: $epochs_insns3 and $saves_insns3); QEMU ${round_cpu:-?} s CPU with the plugin")
    FLEET_LINES+=("device vs host (embedgrad-sim fleet-client): $( ((fleet_ok)) && echo 'bit-identical weights and summary, max |dw| = 0' || echo 'see the failures')")
    echo "fleet_client: ${FLEET_LINES[0]}; ${FLEET_LINES[1]}"
fi

# ----- the interpreter, for comparison -----------------------------------------------------

# The same seed firmwares with the plan off (feature `interpreter`: the interpreter's graph
# size, every op its own kernel) must pass too; their instruction counts are printed beside the
# planned ones, measured in this run.
INTERP_ROWS=()
if [[ " ${BOARD_LIST[*]} " == *" mps2-an386 "* ]]; then
    step "mps2-an386: the seed examples with the interpreter (plan off)"
    t=thumbv7em-none-eabihf
    for prof in release release-o3; do
        if ! cargo build -q --profile "$prof" --target "$t" --bins --features interpreter \
            --target-dir target/interpreter; then
            fail "mps2-an386: build --features interpreter ($prof)"
            continue
        fi
    done
    for ex in perceptron mlp_xor spiral_deep; do
        counts=()
        for prof in release release-o3; do
            elf="target/interpreter/$t/$prof/$ex"
            run_fw mps2-an386 "$elf" "$ex-interp-$prof" plugin
            n=$(sed -n 's/^insns: \([0-9]*\)$/\1/p' "$OUT/mps2-an386/$ex-interp-$prof.insns" 2>/dev/null | head -n 1 || true)
            if ((RC != 0)) || ! grep -q "^PASS $ex\$" "$OUT/mps2-an386/$ex-interp-$prof.log"; then
                fail "mps2-an386/$ex with the interpreter ($prof): exit status $RC"
                show_log "$OUT/mps2-an386/$ex-interp-$prof.log"
            fi
            counts+=("${n:-?}")
        done
        read -r flash ram < <(sizes "target/interpreter/$t/release/$ex")
        stack=$(metric "$OUT/mps2-an386/$ex-interp-release.log" stack_hwm_bytes)
        INTERP_ROWS+=("$ex|$flash|$((ram + ${stack:-0}))|${counts[0]}|${counts[1]}")
        echo "$ex (interpreter): flash $flash B, RAM+stack $((ram + ${stack:-0})) B, ${counts[0]} (s) / ${counts[1]} (3) instructions/step"
    done
fi

# ----- panic-never gate --------------------------------------------------------------------

step "panic-never gate (embedgrad-core, -ops, -train; thumbv7em-none-eabihf)"
GATE=target/thumbv7em-none-eabihf/release/panic-never-gate
if cargo build -q --release -p embedgrad-panic-never --target thumbv7em-none-eabihf >"$OUT/panic-never.log" 2>&1; then
    RC=0
    timeout "$QEMU_TIMEOUT" qemu-system-arm -machine mps2-an386 -nographic \
        -semihosting-config enable=on,target=native -kernel "$GATE" </dev/null >/dev/null 2>&1 || RC=$?
    if ((RC == 0)); then
        echo "links with panic-never: no panic path; runs: exit 0"
    else
        fail "panic-never gate: linked, but the run exited $RC"
    fi
else
    if grep -q "undefined symbol" "$OUT/panic-never.log"; then
        fail "panic-never gate: a panic path remains (the link failed)"
        # Locate it: link with a handler that exists, then list who calls into core's panics.
        if cargo build -q --release -p embedgrad-panic-never --target thumbv7em-none-eabihf \
            --no-default-features >>"$OUT/panic-never.log" 2>&1; then
            echo "functions that call a panic (from llvm-objdump -dC of $GATE built --no-default-features):" >&2
            "$LLVM_BIN/llvm-objdump" -dC --no-show-raw-insn "$GATE" | awk '
                /^[0-9a-f]+ <.*>:$/ { fn = substr($0, index($0, "<") + 1); sub(/>:$/, "", fn); next }
                /^ *[0-9a-f]+:/ && /<core::(panicking::|.*_fail>|.*unwrap_failed>|.*panic)/ {
                    callee = substr($0, index($0, "<") + 1); sub(/>.*$/, "", callee)
                    if (fn !~ /^core::/ && fn !~ /rust_begin_unwind/) print "    " fn "  ->  " callee
                }' | sed -e 's/\$LT\$/</g; s/\$GT\$/>/g; s/\$C\$/,/g; s/\$u20\$/ /g; s/\$RF\$/\&/g' \
                -e 's/\.\./::/g; s/::h[0-9a-f]\{16\}//g' | sort -u >&2
        fi
    else
        fail "panic-never gate: build failed (see $OUT/panic-never.log)"
        show_log "$OUT/panic-never.log"
    fi
fi

# The same gate at opt-levels z, 2 and 3 (inlining differs, and with it which checks the
# optimiser can drop). At z `core`'s slice functions stay out of line, checks and all: built
# there with embedgrad-core's `total-slices` (see `embedgrad_core::nopanic`), as a firmware
# built at z is. Opt-level 1 links too with it (README.md; not rebuilt here, to keep CI
# short); at 0 nothing is optimised away: the branches that remain, and why none can be taken,
# are listed in README.md.
for lvl in z 2 3; do
    features=()
    [[ $lvl == z ]] && features=(--features embedgrad-core/total-slices)
    if CARGO_PROFILE_RELEASE_OPT_LEVEL=$lvl cargo build -q --release -p embedgrad-panic-never "${features[@]}" \
        --target thumbv7em-none-eabihf --target-dir "target/gate-o$lvl" >"$OUT/panic-never-o$lvl.log" 2>&1; then
        RC=0
        timeout "$QEMU_TIMEOUT" qemu-system-arm -machine mps2-an386 -nographic \
            -semihosting-config enable=on,target=native \
            -kernel "target/gate-o$lvl/thumbv7em-none-eabihf/release/panic-never-gate" </dev/null >/dev/null 2>&1 || RC=$?
        if ((RC == 0)); then
            echo "opt-level $lvl: links with panic-never: no panic path; runs: exit 0"
        else
            fail "panic-never gate at opt-level $lvl: linked, but the run exited $RC"
        fi
    else
        fail "panic-never gate at opt-level $lvl: a panic path remains or the build failed (see $OUT/panic-never-o$lvl.log)"
    fi
done

# ----- real board: build only --------------------------------------------------------------

if ((!QUICK)); then
    step "nRF52840-DK (probe-rs): build only"
    # Last on purpose: it replaces target/thumbv7em-none-eabihf/release/<example>.
    if cargo build -q --release --target thumbv7em-none-eabihf --bins --features board-nrf52840 \
        >"$OUT/nrf52840.log" 2>&1; then
        for ex in "${EXAMPLES[@]}"; do
            read -r flash ram < <(sizes "target/thumbv7em-none-eabihf/release/$ex")
            echo "$ex: flash $flash B, RAM $ram B (+ stack); run with probe-rs, see README.md"
        done
    else
        fail "nrf52840 build"
        show_log "$OUT/nrf52840.log"
    fi
fi

# ----- report ------------------------------------------------------------------------------

for key in "${!B_FLASH[@]}"; do
    board=${key%%/*}
    if [[ -z "${SEEN[$key]:-}" ]] && [[ " ${BOARD_LIST[*]} " == *" $board "* ]]; then
        echo "note: budgets.txt has $key, but there is no such firmware (yet)"
    fi
done

step "results"
row() { printf '%-15s %-15s %4s %7s %6s %7s %9s %7s %10s %10s %7s %11s %11s %-8s %s\n' "$@"; }
row board example B "flash B" "RAM B" "stack B" "RAM+stk B" "graph B" "insns (s)" "insns (3)" "QEMU s" "final loss" "sim loss" run budget
for r in "${ROWS[@]}"; do
    IFS='|' read -r -a cols <<<"$r"
    row "${cols[@]}"
done
echo
echo "B = rows per micro-batch; flash = vector table + code + rodata + .data image; RAM = .data +"
echo ".bss; stack = painted high-water mark (the graph and the data set live on the stack);"
echo "graph B = bytes of the graph; insns = guest instructions of the first training step (QEMU"
echo "plugin) of the firmware built at opt-level s (budgeted) and, on the Cortex-M4F, 3; QEMU s"
echo "= CPU seconds of the whole QEMU run, plugin included (wall time depends on the machine's"
echo "load); final loss on the device vs embedgrad-sim's (expected.txt)."
if ((${#FT_ROWS[@]})); then
    echo
    echo "Cortex-M4F, fine-tuning the pre-trained digits model to the unseen writer (held-out"
    echo "images right of 360: original writer, unseen before, unseen after):"
    printf '%-16s %9s %7s %6s %7s %9s %7s %9s %8s %10s %10s %13s\n' example trainable "flash B" \
        "RAM B" "stack B" "RAM+stk B" "graph B" "trainer B" "buffer B" "insns (s)" "insns (3)" "held-out"
    for r in "${FT_ROWS[@]}"; do
        IFS='|' read -r ex p fl ra st to gr tr bu i_s i_3 accs _ _ <<<"$r"
        printf '%-16s %9s %7s %6s %7s %9s %7s %9s %8s %10s %10s %13s\n' "$ex" "$p" "$fl" "$ra" "$st" \
            "$to" "$gr" "$tr" "$bu" "$i_s" "$i_3" "${accs// //}"
    done
    echo "Reading the fine-tuned weights back (9,952 bytes, 4 tensors), instructions (opt-level s):"
    IFS='|' read -r _ _ _ _ _ _ _ _ _ _ _ _ marks _ <<<"${FT_ROWS[0]}"
    printf '%-16s' example
    for m in ${marks//,/ }; do printf ' %12s' "$m"; done
    echo
    for r in "${FT_ROWS[@]}"; do
        IFS='|' read -r ex _ _ _ _ _ _ _ _ _ _ _ _ counts <<<"$r"
        printf '%-16s' "$ex"
        for c in $counts; do printf ' %12s' "$c"; done
        echo
    done
    echo "trainer = Adam's state for the trainable scalars, the split and the batch buffers;"
    echo "buffer = the RAM file of the round-trip check (a device would stream to flash instead)."
fi
if ((${#INF_ROWS[@]})); then
    echo
    echo "Inference, f32 against int8 (held-out rows; insns = one inference at opt-level s, from"
    echo "the input's bytes to its class; RAM = .data + .bss + the stack's high-water mark):"
    printf '%-15s %-21s %8s %6s %7s %9s %10s %9s\n' board example "flash B" "RAM B" "stack B" \
        "RAM+stk B" "insns" "held-out"
    for r in "${INF_ROWS[@]}"; do
        IFS='|' read -r -a c <<<"$r"
        printf '%-15s %-21s %8s %6s %7s %9s %10s %9s\n' "${c[@]}"
    done
fi
if ((${#INTERP_ROWS[@]})); then
    echo
    echo "Cortex-M4F, planned step vs the interpreter (plan off), instructions per step:"
    printf '%-12s %22s %22s %14s\n' example "interpreter s / 3" "planned s / 3" "interp RAM+stk"
    for r in "${INTERP_ROWS[@]}"; do
        IFS='|' read -r ex f ramstk i_s i_3 <<<"$r"
        p_s="?" p_3="?"
        for row in "${ROWS[@]}"; do
            IFS='|' read -r -a c <<<"$row"
            if [[ "${c[0]}" == mps2-an386 && "${c[1]}" == "$ex" ]]; then p_s=${c[8]}; p_3=${c[9]}; fi
        done
        printf '%-12s %22s %22s %14s\n' "$ex" "$i_s / $i_3" "$p_s / $p_3" "$ramstk"
    done
fi
if ((${#FLEET_LINES[@]})); then
    echo
    echo "Cortex-M4F, the federated client (fleet_client, instructions at opt-level s):"
    printf '  %s\n' "${FLEET_LINES[@]}"
fi
if ((${#SKIPS[@]})); then
    echo
    echo "skipped on these boards (those skipped as slow train with ./ci.sh --slow):"
    printf '  - %s\n' "${SKIPS[@]}"
fi

if ((${#FAILS[@]})); then
    echo
    echo "${#FAILS[@]} failure(s):"
    printf '  - %s\n' "${FAILS[@]}"
    exit 1
fi
echo
echo "all firmware checks passed"
