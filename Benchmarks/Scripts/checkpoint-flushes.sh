#!/bin/bash
# Whether a journal checkpoint that writes back only its state's pages (docs/FORMAT.md, "Journal")
# gets the disk's cache flushed after that write-back and before its slot is written, on a file
# system made for the check: ext4 with its journal (mkfs.ext4's defaults, ordered data) on a loop
# device over a file. longrund runs with its data directory there under the unary lifecycle (one
# caller, then 64), while `perf record` traces the daemon's `sync_file_range` and `fdatasync`
# calls and the loop device's requests; checkpoint_flushes.py then checks every state-page
# checkpoint: a cache flush issued to the device after the write-back's last write completed, and
# completed, before the journal's `fdatasync` returned. Exits 1 if one has none, 2 if none was
# traced. Needs root (mount, perf) and a free loop device; stops and removes what it made.
# usage: Benchmarks/Scripts/checkpoint-flushes.sh
# env:   DUR=10 (seconds per concurrency); MKFS="mkfs.ext4 -q -F" (e.g. add "-O ^has_journal");
#        MOUNT_OPTIONS=loop (e.g. "loop,barrier=0", where no flush is sent and the check must fail)
set -eu
source "$(dirname "$0")/compare/lib.sh"; ensure_client
HERE=$(cd "$(dirname "$0")" && pwd)
DUR=${DUR:-10}; MKFS=${MKFS:-mkfs.ext4 -q -F}; MOUNT_OPTIONS=${MOUNT_OPTIONS:-loop}
[ -x "$LONGRUND" ] || { echo "missing $LONGRUND: swift build -c release --product longrund" >&2; exit 1; }
W=$(mktemp -d /tmp/longrun-flushes-XXXXXX); MNT=$W/mnt; mkdir -p "$MNT"
truncate -s 3G "$W/fs.img"; $MKFS "$W/fs.img"
mount -o "$MOUNT_OPTIONS" "$W/fs.img" "$MNT"
finish() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  umount "$MNT" 2>/dev/null; rm -rf "$W"
}
trap finish EXIT
LOOP=$(findmnt -n -o SOURCE "$MNT"); DEV=$(lsblk -n -d -o MAJ:MIN "$LOOP" | tr -d ' ' | tr : ,)
echo "# $(date -u +%FT%TZ) $(findmnt -n -o FSTYPE,OPTIONS "$MNT") on $LOOP ($DEV); longrund $LONGRUND"
"$LONGRUND" --data-dir "$MNT/data" --socket "$MNT/s.sock" --log-level info > "$W/daemon.log" 2>&1 & DAEMON=$!
wait_for_socket "$MNT/s.sock"
grep -i 'checkpoints flush the whole' "$W/daemon.log" && { echo "longrund refused state-page checkpoints here" >&2; exit 2; }
perf record -q -e syscalls:sys_enter_sync_file_range,syscalls:sys_exit_sync_file_range \
  -e syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync,syscalls:sys_enter_pwrite64 \
  -e block:block_rq_issue,block:block_rq_complete -a -o "$W/perf.data" -- sleep $((2 * DUR + 3)) 2>/dev/null & RECORDER=$!
sleep 1
for c in 1 64; do
  $LG --target "unix:$MNT/s.sock" --mode lr-lifecycle --concurrency "$c" --duration "$DUR" --warmup 0 --label "c=$c"
done
wait $RECORDER
perf script -i "$W/perf.data" -F comm,pid,tid,time,event,trace 2>/dev/null > "$W/trace.txt"
"$PY" "$HERE/checkpoint_flushes.py" "$W/trace.txt" "$DAEMON" "$DEV" "$MNT/data"
