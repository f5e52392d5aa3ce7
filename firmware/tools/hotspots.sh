#!/usr/bin/env bash
# Where the instructions of one training step go: runs a firmware in QEMU with the hotspots
# plugin (tools/hotspots.c) between its bench_start and bench_stop markers (the first training
# step) and prints the functions that executed the most instructions.
#
# Usage: tools/hotspots.sh BOARD ELF [TOP]
#   BOARD  microbit | lm3s6965evb | mps2-an386 | qemu-virt-rv32
#   ELF    e.g. target/thumbv6m-none-eabi/release/mlp_xor
#   TOP    how many functions to list (default 25)
# Instructions are attributed to the function whose symbol precedes them, so code inlined into
# a function counts as that function's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
board=${1:?usage: tools/hotspots.sh BOARD ELF [TOP]}
elf=${2:?usage: tools/hotspots.sh BOARD ELF [TOP]}
top=${3:-25}
case "$board" in
    microbit | lm3s6965evb | mps2-an386) qemu=(qemu-system-arm -machine "$board") ;;
    qemu-virt-rv32) qemu=(qemu-system-riscv32 -machine virt -bios none) ;;
    *) echo "hotspots.sh: unknown board '$board'" >&2; exit 2 ;;
esac

llvm="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
plugin="$PWD/target/tools/libhotspots.so"
mkdir -p "$(dirname "$plugin")"
gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$plugin" tools/hotspots.c

sym() { "$llvm/llvm-nm" "$elf" | awk -v s="$1" '$3 == s && !found { print "0x" $1; found = 1 }'; }
start=$(sym bench_start)
stop=$(sym bench_stop)
[[ -n "$start" && -n "$stop" ]] || { echo "hotspots.sh: $elf has no bench markers" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
timeout 600 "${qemu[@]}" -nographic -semihosting-config enable=on,target=native -kernel "$elf" \
    -d plugin -D "$log" -plugin "$plugin,start=$start,stop=$stop" >/dev/null 2>&1 </dev/null || true

# Function symbols sorted by address, then each block's count added to the function before it.
"$llvm/llvm-nm" -n -C --defined-only "$elf" | awk '$2 ~ /^[tTwW]$/' | awk -v top="$top" '
    function hex(s,    i, c, v) {
        v = 0; s = tolower(s); sub(/^0x/, "", s)
        for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
        return v
    }
    FNR == NR { a = hex($1); n++; addr[n] = a; $1 = ""; $2 = ""; sub(/^  /, ""); name[n] = $0; next }
    NF == 2 {
        pc = hex($1); pc -= pc % 2; lo = 1; hi = n; f = 0
        while (lo <= hi) { mid = int((lo + hi) / 2); if (addr[mid] <= pc) { f = mid; lo = mid + 1 } else hi = mid - 1 }
        fn = f ? name[f] : "?"; sub(/ \(\.llvm\.[0-9]+\)$/, "", fn)
        gsub(/\$LT\$/, "<", fn); gsub(/\$GT\$/, ">", fn); gsub(/\$C\$/, ",", fn); gsub(/\$u20\$/, " ", fn)
        gsub(/\$RF\$/, "\\&", fn); gsub(/\.\./, "::", fn); sub(/^_</, "<", fn); sub(/::h[0-9a-f]+$/, "", fn)
        per[fn] += $2; total += $2
    }
    END {
        if (!total) { print "hotspots.sh: no instructions counted" > "/dev/stderr"; exit 1 }
        printf "%12s %6s  %s\n", "insns", "%", "function (first training step)"
        k = 0
        for (fn in per) { k++; key[k] = fn }
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (per[key[j]] > per[key[i]]) { t = key[i]; key[i] = key[j]; key[j] = t }
        for (i = 1; i <= k && i <= top; i++) printf "%12d %5.1f%%  %s\n", per[key[i]], 100 * per[key[i]] / total, key[i]
        printf "%12d %5.1f%%  total\n", total, 100
    }' - "$log"
