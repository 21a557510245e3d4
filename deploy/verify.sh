#!/usr/bin/env bash
# Checks deploy/tftpd.service, alone and with deploy/tftpd-uploads.conf:
#
#   verify     systemd-analyze verify prints nothing (on copies whose binaries
#              are stand-ins: deno compile cannot run in CI),
#   flags      the server accepts every flag of each ExecStart line,
#   mdwe       MemoryDenyWriteExecute= is unset (V8 cannot run with it),
#   exposure   systemd-analyze security --offline=yes is at most MAX_EXPOSURE,
#   sandbox    the server starts and serves (and, with the drop-in, accepts an
#              upload into incoming/ only) in a mount namespace that holds
#              only the unit's Bind*Paths= (plus the stand-in: deno, the
#              sources, a cache in /tmp), as a nobody user, /proc subset=pid.
#
# Needs root, systemd (systemd-analyze), util-linux and tftp-hpa. Ends with a
# `deno test`-like summary (`ok | N passed | N failed`) that .ci/run counts.
#
#   bash deploy/verify.sh                # deno on PATH
#   bash deploy/verify.sh /path/to/deno
set -uo pipefail
cd "$(dirname "$0")/.."
DENO="${1:-deno}"
# In tenths. 1.4 is what a unit can reach while it binds port 69 itself with
# CAP_NET_BIND_SERVICE on the host network and answers any address
# (docs/deployment.md, "Checking the unit"); lower it when the unit gets
# better, never raise it.
MAX_EXPOSURE=14
PORT="${VERIFY_PORT:-16990}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tftpd-verify.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PASSED=0 FAILED=0

check() { # check NAME COMMAND...
  local name="$1"
  shift
  if "$@" >"$WORK/out" 2>&1; then
    echo "$name ... ok"
    PASSED=$((PASSED + 1))
  else
    echo "$name ... FAILED"
    sed 's/^/    /' "$WORK/out"
    FAILED=$((FAILED + 1))
  fi
}

# Unit copies whose /usr/local/bin/ binaries are stand-in scripts.
mkdir -p "$WORK/bin" "$WORK/plain" "$WORK/uploads/tftpd.service.d"
for b in tftpd tftpd-uploads; do printf '#!/bin/sh\nexit 0\n' >"$WORK/bin/$b" && chmod 0755 "$WORK/bin/$b"; done
sed "s#/usr/local/bin/#$WORK/bin/#g" deploy/tftpd.service >"$WORK/plain/tftpd.service"
cp "$WORK/plain/tftpd.service" "$WORK/uploads/tftpd.service"
sed "s#/usr/local/bin/#$WORK/bin/#g" deploy/tftpd-uploads.conf >"$WORK/uploads/tftpd.service.d/uploads.conf"

quiet_verify() { local out; out="$(systemd-analyze verify "$1" 2>&1)" && [ -z "$out" ] || { echo "$out"; return 1; }; }
exposure() { systemd-analyze security --offline=yes --threshold="$MAX_EXPOSURE" "$1" | tail -n 1; }
no_mdwe() { ! grep -En '^[[:space:]]*MemoryDenyWriteExecute[[:space:]]*=' deploy/tftpd.service deploy/tftpd-uploads.conf; }
# The last ExecStart= of FILES (a drop-in's empty one resets the list).
exec_args() { grep -hE '^ExecStart=.+' "$@" | tail -n 1 | sed -E 's/^ExecStart=[^ ]+ //'; }
flags_parse() { # shellcheck disable=SC2046
  "$DENO" run --no-prompt --allow-net main.ts $(exec_args "$@") --version
}

# A value list of KEY= lines in FILES, comments skipped.
unit_values() { local key="$1"; shift; grep -hE "^$key=" "$@" | sed "s/^$key=//" | tr ' ' '\n' | grep -v '^$'; }

# sandbox NAME UPLOADS FILES...: runs the unit's command line (port changed)
# as nobody in a mount namespace holding only the unit's Bind*Paths=, with
# the permissions its binary is compiled with (UPLOADS=yes: the uploads one).
sandbox() {
  local name="$1" uploads="$2" dir="$WORK/sandbox-$1" spec
  shift 2
  local deno_bin chroot_bin
  deno_bin="$(readlink -f "$(command -v "$DENO")")" && chroot_bin="$(command -v chroot)" || return 1
  mkdir -p "$dir/srv/incoming" "$dir/root" "$dir/cache" && echo served >"$dir/srv/a.txt"
  chown 65534:65534 "$dir/srv/incoming" "$dir/cache"
  local binds=() args
  for spec in $(unit_values BindReadOnlyPaths "$@"); do binds+=("ro:$spec"); done
  for spec in $(unit_values BindPaths "$@"); do binds+=("rw:$spec"); done
  # The sources, readable by nobody wherever the checkout lives.
  mkdir -p "$dir/app" && cp -r main.ts deno.json src "$dir/app/" && chmod -R a+rX "$dir/app"
  binds+=("ro:$dir/app:/run/app")
  args="$(exec_args "$@" | sed -E "s/--port [0-9]+/--port $PORT/")"
  local perms="--allow-net --allow-read=/srv/tftp"
  if [ "$uploads" = yes ]; then perms="$perms --allow-write=/srv/tftp/incoming"; fi
  # The stand-in for the compiled binary is deno itself, bound in its place.
  unshare --mount --propagation private bash -s "$dir" "$deno_bin" "${binds[@]}" >"$dir/log" 2>&1 <<EOF &
set -e
dir="\$1" deno="\$2"; shift 2; r="\$dir/root"
mount -t tmpfs -o mode=0755 verify-root "\$r"
for b in "\$@"; do
  mode="\${b%%:*}" spec="\${b#*:}" opt=0
  [ "\${spec#-}" != "\$spec" ] && opt=1 spec="\${spec#-}"
  src="\${spec%%:*}" dst="\${spec#*:}"
  case "\$src" in /usr/local/bin/tftpd*) src="\$deno" ;; /srv/tftp) src="\$dir/srv" ;; /srv/tftp/*) src="\$dir/srv/\${src#/srv/tftp/}" ;; esac
  if [ ! -e "\$src" ]; then [ "\$opt" = 1 ] && continue; echo "missing \$src"; exit 1; fi
  if [ -d "\$src" ]; then mkdir -p "\$r\$dst"; else mkdir -p "\$(dirname "\$r\$dst")"; : >"\$r\$dst"; fi
  mount --rbind "\$src" "\$r\$dst"
  [ "\$mode" = ro ] && mount -o remount,bind,ro "\$r\$dst"
done
mkdir -p "\$r/proc" "\$r/dev" "\$r/tmp" && mount -t proc -o subset=pid,hidepid=invisible proc "\$r/proc"
mount -t tmpfs -o mode=0755 verify-dev "\$r/dev"
for d in null zero full random urandom; do : >"\$r/dev/\$d"; mount --bind "/dev/\$d" "\$r/dev/\$d"; done
mount --bind "\$dir/cache" "\$r/tmp" && mount -o remount,bind,ro "\$r"
echo "view: \$(ls "\$r" | tr '\n' ' ')"
exec env -i DENO_DIR=/tmp/deno DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 "$chroot_bin" --userspec=65534:65534 "\$r" \
  /usr/local/bin/tftpd run --no-prompt --unstable-net $perms /run/app/main.ts $args
EOF
  local pid=$! ok=0 i
  for i in $(seq 100); do grep -q 'listening on' "$dir/log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if grep -q 'listening on' "$dir/log"; then
    (cd "$dir" && tftp 127.0.0.1 "$PORT" -c get a.txt got.txt)
    if [ "$(cat "$dir/got.txt" 2>/dev/null)" = served ]; then ok=1; else echo "download failed"; fi
    if [ "$uploads" = yes ]; then
      echo up >"$dir/up.txt"
      (cd "$dir" && tftp 127.0.0.1 "$PORT" -c put up.txt incoming/up.txt && tftp 127.0.0.1 "$PORT" -c put up.txt elsewhere.txt)
      [ "$(cat "$dir/srv/incoming/up.txt" 2>/dev/null)" = up ] || { echo "upload into incoming/ failed"; ok=0; }
      [ ! -e "$dir/srv/elsewhere.txt" ] || { echo "upload outside incoming/ was accepted"; ok=0; }
    fi
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cat "$dir/log"
  [ "$ok" = 1 ]
}

PLAIN=(deploy/tftpd.service) UPLOADS=(deploy/tftpd.service deploy/tftpd-uploads.conf)
check "verify: tftpd.service" quiet_verify "$WORK/plain/tftpd.service"
check "verify: tftpd.service + uploads.conf" quiet_verify "$WORK/uploads/tftpd.service"
check "mdwe: MemoryDenyWriteExecute= unset" no_mdwe
check "flags: tftpd.service ExecStart" flags_parse "${PLAIN[@]}"
check "flags: uploads.conf ExecStart" flags_parse "${UPLOADS[@]}"
check "exposure <= $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)): tftpd.service" exposure "$WORK/plain/tftpd.service"
check "exposure <= $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10)): tftpd.service + uploads.conf" exposure "$WORK/uploads/tftpd.service"
check "sandbox: tftpd.service serves a file" sandbox plain no "${PLAIN[@]}"
check "sandbox: + uploads.conf accepts uploads into incoming/ only" sandbox uploads yes "${UPLOADS[@]}"

[ "$FAILED" -eq 0 ] && r=ok || r=FAILED
echo "$r | $PASSED passed | $FAILED failed"
[ "$FAILED" -eq 0 ]
