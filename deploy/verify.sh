#!/usr/bin/env bash
# Checks deploy/tftpd.service, alone and with each drop-in (tftpd-uploads.conf,
# tftpd-port69.conf, tftpd-origin.conf), and deploy/tftpd-redirect.nft:
#
#   verify     systemd-analyze verify prints nothing (on copies whose binaries
#              are stand-ins: deno compile cannot run in CI),
#   flags      the server accepts every flag of each ExecStart line,
#   mdwe       MemoryDenyWriteExecute= is unset (V8 cannot run with it),
#   exposure   systemd-analyze security --offline=yes is at most MAX_EXPOSURE
#              (PORT69_MAX_EXPOSURE with tftpd-port69.conf),
#   sandbox    the server starts and serves (and, with the drop-in, accepts an
#              upload into incoming/ only, with tftpd-origin.conf serves a
#              name from an origin named localhost) in a mount namespace that holds
#              only the unit's Bind*Paths= (plus the stand-in: deno, the
#              sources, a cache in /tmp), as a nobody user, /proc subset=pid,
#   redirect   in two network namespaces (server, client; veth, IPv4 and
#              IPv6), with the unit's ExecStartPre= (or docs/deployment.md's iptables
#              line) loaded on the server side: tftp-hpa sent to port 69 gets
#              the file from the unit's command line on TFTPD_PORT, from the
#              other namespace and from the server's own, per-port and
#              --single-port, behind firewalls that let through only replies
#              from where they must come from (69 for --single-port, never
#              69 or 9069 otherwise); port 69 of a third namespace, routed
#              through the server's, is still reached from both; ExecStopPost=
#              (and tftpd-port69.conf's ExecStartPre=) removes the rules,
#   systemd    the unit with docs/deployment.md's "deno run" drop-in and
#              tftpd-origin.conf under systemd itself, PID 1 of namespaces of
#              its own: it serves a client on port 69 from its root and its
#              origin, with no capability, in a user namespace of root and
#              itself.
#
# Needs root, systemd (systemd-analyze, and systemd as PID 1 on cgroup2),
# util-linux, iproute2, nftables, iptables and tftp-hpa. Ends with a `deno test`-like summary
# (`ok | N passed | N failed`) that .ci/run counts.
#
#   bash deploy/verify.sh                # deno on PATH
#   bash deploy/verify.sh /path/to/deno
set -uo pipefail
cd "$(dirname "$0")/.."
DENO="${1:-deno}"
# In tenths. 1.0 is what is left to a server on the host's network that
# answers any address and runs V8 (docs/deployment.md, "Checking the unit"); 1.4 adds
# what binding port 69 itself costs (a capability, no user namespace).
# Lower them when the unit gets better, never raise them.
MAX_EXPOSURE=10 PORT69_MAX_EXPOSURE=14
PORT="${VERIFY_PORT:-16990}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tftpd-verify.XXXXXX")"
PIDS=() NETNS=() # servers and network namespaces of the redirect checks
teardown() {
  local p n
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for n in "${NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
  PIDS=() NETNS=()
}
trap 'teardown; rm -rf "$WORK"' EXIT
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
mkdir -p "$WORK/bin" "$WORK/plain" "$WORK/uploads/tftpd.service.d" "$WORK/port69/tftpd.service.d" "$WORK/origin/tftpd.service.d"
for b in tftpd tftpd-uploads; do printf '#!/bin/sh\nexit 0\n' >"$WORK/bin/$b" && chmod 0755 "$WORK/bin/$b"; done
sed "s#/usr/local/bin/#$WORK/bin/#g" deploy/tftpd.service >"$WORK/plain/tftpd.service"
for v in uploads port69 origin; do cp "$WORK/plain/tftpd.service" "$WORK/$v/tftpd.service"; done
sed "s#/usr/local/bin/#$WORK/bin/#g" deploy/tftpd-uploads.conf >"$WORK/uploads/tftpd.service.d/uploads.conf"
cp deploy/tftpd-port69.conf "$WORK/port69/tftpd.service.d/port69.conf"
cp deploy/tftpd-origin.conf "$WORK/origin/tftpd.service.d/origin.conf"

quiet_verify() { local out; out="$(systemd-analyze verify "$1" 2>&1)" && [ -z "$out" ] || { echo "$out"; return 1; }; }
exposure() { systemd-analyze security --offline=yes --threshold="$1" "$2" | tail -n 1; }
tenths() { echo "$(($1 / 10)).$(($1 % 10))"; }
no_mdwe() { ! grep -En '^[[:space:]]*MemoryDenyWriteExecute[[:space:]]*=' deploy/tftpd.service deploy/tftpd-*.conf; }
# unit_env KEY FILES...: the value of KEY from the last Environment= line of
# FILES that sets it (one assignment per line, quoted or not).
unit_env() { local key="$1"; shift; grep -hE "^Environment=\"?$key=" "$@" | tail -n 1 | sed -E "s/^Environment=\"?$key=//; s/\"$//"; }
# The port the server gets from FILES: the last Environment=TFTPD_PORT=.
unit_port() { unit_env TFTPD_PORT "$@"; }
# The last ExecStart= of FILES (a drop-in's empty one resets the list), its
# ${NAME} and $NAME expanded from their Environment= lines.
exec_args() {
  local line key val
  line="$(grep -hE '^ExecStart=.+' "$@" | tail -n 1 | sed -E 's/^ExecStart=[^ ]+ //')"
  for key in $(grep -oE '\$\{?[A-Z_]+' <<<"$line" | tr -d '${' | sort -u); do
    val="$(unit_env "$key" "$@")" && line="${line//\$\{$key\}/$val}" && line="${line//\$$key/$val}"
  done
  echo "$line"
}
flags_parse() { # shellcheck disable=SC2046
  "$DENO" run --no-prompt --allow-net main.ts $(exec_args "$@") --version
}

# A value list of KEY= lines in FILES, comments skipped.
unit_values() { local key="$1"; shift; grep -hE "^$key=" "$@" | sed "s/^$key=//" | tr ' ' '\n' | grep -v '^$'; }

# started LOG PATTERN TRIES: waits (TRIES x 0.2 s at most) until LOG holds
# PATTERN while the last process of PIDS runs; else shows LOG and fails.
started() {
  local i
  for i in $(seq "$3"); do
    grep -q "$2" "$1" && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  cat "$1"
  return 1
}

# origin_up LOG PORT [COMMAND...]: an HTTP origin on localhost:PORT (run
# through COMMAND, e.g. nsenter, when given) whose /netboot/o.txt is
# "from the origin"; every other path is 404. Returns once it listens.
origin_up() {
  local log="$1" port="$2"
  shift 2
  cat >"$WORK/origin.ts" <<'TS'
Deno.serve(
  { hostname: "::", port: Number(Deno.args[0]), onListen: () => console.log("origin listening") },
  (req) =>
    new URL(req.url).pathname === "/netboot/o.txt"
      ? new Response("from the origin\n")
      : new Response("not here\n", { status: 404 }),
);
TS
  "$@" "$DENO" run --no-prompt --no-config --allow-net "$WORK/origin.ts" "$port" >"$log" 2>&1 &
  PIDS+=($!)
  started "$log" 'origin listening' 100
}

# sandbox NAME KIND FILES...: runs the unit's command line (port changed)
# as nobody in a mount namespace holding only the unit's Bind*Paths=, with
# the permissions its binary is compiled with (KIND uploads: the uploads
# one; origin: its --origin is an origin on this host's loopback, named
# localhost, so the resolver files must be there).
sandbox() {
  local name="$1" kind="$2" dir="$WORK/sandbox-$1" spec
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
  args="$(exec_args "$@" | sed -E "s/--port [0-9]+/--port $PORT/; s#--origin [^ ]+#--origin http://localhost:$((PORT + 1))/netboot/#")"
  local perms="--allow-net --allow-read=/srv/tftp"
  if [ "$kind" = uploads ]; then perms="$perms --allow-write=/srv/tftp/incoming"; fi
  if [ "$kind" = origin ]; then origin_up "$dir/origin.log" $((PORT + 1)) || return 1; fi
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
    if [ "$kind" = origin ]; then
      (cd "$dir" && tftp 127.0.0.1 "$PORT" -c get o.txt o.txt)
      [ "$(cat "$dir/o.txt" 2>/dev/null)" = "from the origin" ] || { echo "no file from the origin"; ok=0; }
    fi
    if [ "$kind" = uploads ]; then
      echo up >"$dir/up.txt"
      (cd "$dir" && tftp 127.0.0.1 "$PORT" -c put up.txt incoming/up.txt && tftp 127.0.0.1 "$PORT" -c put up.txt elsewhere.txt)
      [ "$(cat "$dir/srv/incoming/up.txt" 2>/dev/null)" = up ] || { echo "upload into incoming/ failed"; ok=0; }
      [ ! -e "$dir/srv/elsewhere.txt" ] || { echo "upload outside incoming/ was accepted"; ok=0; }
    fi
  fi
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  cat "$dir/log"
  teardown
  [ "$ok" = 1 ]
}

# unit_commands KEY FILES...: the command list KEY= (ExecStartPre=, ...) of
# FILES (an empty KEY= resets it), prefixes dropped, reading deploy/ where
# the unit reads /etc.
unit_commands() {
  local key="$1="
  shift
  awk -v k="$key" 'index($0, k) == 1 { v = substr($0, length(k) + 1); if (v == "") n = 0; else c[n++] = v }
    END { for (i = 0; i < n; i++) print c[i] }' "$@" |
    sed -E 's/^[-+!@:]*//; s#/etc/tftpd-redirect.nft#deploy/tftpd-redirect.nft#g'
}
# Every port tftpd-redirect.nft sends to is tftpd.service's TFTPD_PORT.
redirect_port() {
  local want got
  want=":$(unit_port deploy/tftpd.service)" got="$(grep -oE 'to [^ ]*:[0-9]+' deploy/tftpd-redirect.nft | sed -E 's/.*(:[0-9]+)$/\1/' | sort -u)"
  echo "tftpd.service: $want, tftpd-redirect.nft: $got"
  [ "$got" = "$want" ]
}

# netns NAME: a network namespace with loopback up (removed by teardown).
netns() { ip netns add "$1" && NETNS+=("$1") && ip -n "$1" link set lo up; }
# veth A B N: joins namespaces A (10.N.0.1, fdN::1) and B (.2, ::2).
veth() {
  local a="$1" b="$2" n="$3" va="tv$$-${3}a" vb="tv$$-${3}b"
  ip link add "$va" netns "$a" type veth peer name "$vb" netns "$b" &&
    ip -n "$a" addr add "10.$n.0.1/24" dev "$va" && ip -n "$a" addr add "fd$n::1/64" dev "$va" nodad &&
    ip -n "$b" addr add "10.$n.0.2/24" dev "$vb" && ip -n "$b" addr add "fd$n::2/64" dev "$vb" nodad &&
    ip -n "$a" link set "$va" up && ip -n "$b" link set "$vb" up
}
# serve NS LOG ARGS...: the server in NS, started once it logs "listening on".
serve() {
  local ns="$1" log="$2"
  shift 2
  ip netns exec "$ns" "$DENO" run --no-prompt --allow-net --allow-read="$WORK" main.ts "$@" >"$log" 2>&1 &
  PIDS+=($!)
  started "$log" 'listening on' 150
}
# fetch NS ADDRESS FILE [NAME]: tftp-hpa in NS, sent to ADDRESS port 69,
# gets NAME (f.bin) and it is FILE.
fetch() {
  local got="$WORK/got" name="${4:-f.bin}"
  rm -f "$got"
  if ip netns exec "$1" timeout 60 tftp -m octet "$2" 69 -c get "$name" "$got" && cmp -s "$got" "$3"; then
    echo "$1: $2 port 69: got $name"
  else
    echo "$1: $2 port 69: NO $name"
    return 1
  fi
}
# only_from_server NS PASS: NS drops the UDP datagrams from the server's
# addresses but those that match PASS (priority 200: after conntrack has
# rewritten them) and those to the listen port (requests from the server's
# own namespace). One negation per rule: nft 1.0.6 merges "udp sport != A
# udp dport != B" into one compare of both ports, which matches either.
only_from_server() {
  ip netns exec "$1" nft -f - <<NFT
table inet verify_only {
  chain input {
    type filter hook input priority 200; policy accept;
    udp dport $(unit_port deploy/tftpd.service) accept
    $2 accept
    ip saddr { 10.69.0.1, 127.0.0.1 } meta l4proto udp counter drop
    ip6 saddr { fd69::1, ::1 } meta l4proto udp counter drop
  }
}
NFT
}

# redirect FIREWALL MODE: FIREWALL (nft: the unit's ExecStartPre=, iptables:
# docs/deployment.md's line) redirects port 69 in the server's namespace; the unit's
# command line serves there in MODE (per-port or single-port); clients in
# both namespaces, IPv4 and IPv6, send to port 69 and get the file.
redirect() {
  local fw="$1" mode="$2" s="tftpd-verify-$$-${#NETNS[@]}-s" c="tftpd-verify-$$-${#NETNS[@]}-c"
  local root="$WORK/redirect-root" other="$WORK/redirect-other" ok=1 args cmd pass a
  mkdir -p "$root" "$other" && head -c 20000 /dev/urandom >"$root/f.bin" && head -c 3000 /dev/urandom >"$other/f.bin"
  netns "$s" && netns "$c" && veth "$s" "$c" 69 || { teardown; return 1; }
  if [ "$fw" = nft ]; then
    # Twice: loading it again must not add a second table.
    while read -r cmd; do ip netns exec "$s" $cmd && ip netns exec "$s" $cmd || ok=0; done < <(unit_commands ExecStartPre "${PLAIN[@]}")
    [ "$(ip netns exec "$s" nft list ruleset | grep -c ' redirect to ')" = 1 ] || { echo "not one redirect rule:"; ok=0; }
  else
    cmd="$(grep -E '^for t in iptables ip6tables; do' docs/deployment.md)"
    [ -n "$cmd" ] && ip netns exec "$s" bash -c "$cmd" || { echo "docs/deployment.md's iptables line failed: $cmd"; ok=0; }
  fi
  ip netns exec "$s" nft list ruleset
  # --single-port: every reply must come from port 69 (conntrack un-NATs
  # 9069); per-port: never from 69 or 9069 (transfers have TIDs of their own).
  if [ "$mode" = single-port ]; then pass='udp sport 69'; else pass='udp sport != { 69, 9069 }'; fi
  only_from_server "$c" "$pass" && only_from_server "$s" "$pass" || ok=0
  args="$(exec_args "${PLAIN[@]}" | sed "s#--root /srv/tftp#--root $root#")"
  [ "$mode" = single-port ] && args="$args --single-port"
  # shellcheck disable=SC2086
  serve "$s" "$WORK/redirect.log" $args || ok=0
  if [ "$ok" = 1 ]; then
    for a in 10.69.0.1 fd69::1; do fetch "$c" "$a" "$root/f.bin" || ok=0; done
    for a in 127.0.0.1 ::1 10.69.0.1 fd69::1; do fetch "$s" "$a" "$root/f.bin" || ok=0; done
  fi
  if [ "$fw" = nft ] && [ "$mode" = per-port ]; then
    # TFTP from the server's host to another host's port 69, and through
    # it (routed) to a third, reaches that host's server, not ours.
    local r="tftpd-verify-$$-${#NETNS[@]}-r"
    netns "$r" && veth "$s" "$r" 70 &&
      ip netns exec "$s" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 &&
      ip -n "$c" route add default via 10.69.0.1 && ip -n "$c" -6 route add default via fd69::1 &&
      ip -n "$r" route add default via 10.70.0.1 && ip -n "$r" -6 route add default via fd70::1 || ok=0
    serve "$r" "$WORK/other.log" --host :: --port 69 --root "$other" --read-only || ok=0
    for a in 10.70.0.2 fd70::2; do fetch "$s" "$a" "$other/f.bin" && fetch "$c" "$a" "$other/f.bin" || ok=0; done
  fi
  if [ "$fw" = nft ]; then
    while read -r cmd; do ip netns exec "$s" $cmd || ok=0; done < <(unit_commands ExecStopPost "${PLAIN[@]}")
    if ip netns exec "$s" nft list tables | grep -q tftpd_redirect; then echo "ExecStopPost= left the redirect"; ok=0; fi
  fi
  [ "$ok" = 1 ] || { ip netns exec "$s" nft list ruleset; ip netns exec "$c" nft list ruleset; cat "$WORK/redirect.log"; }
  teardown
  [ "$ok" = 1 ]
}
# port69.conf's ExecStartPre= removes a redirect tftpd.service left behind
# (port 69 would lead to 9069, where nothing listens any more).
port69_unredirects() {
  local s="tftpd-verify-$$-p69" cmd ok=1
  netns "$s" || return 1
  while read -r cmd; do ip netns exec "$s" $cmd || ok=0; done < <(unit_commands ExecStartPre "${PLAIN[@]}")
  ip netns exec "$s" nft list tables
  while read -r cmd; do echo "port69.conf: $cmd" && ip netns exec "$s" $cmd || ok=0; done < <(unit_commands ExecStartPre "${PORT69[@]}")
  if ip netns exec "$s" nft list tables | grep -q tftpd_redirect; then echo "the redirect is still there"; ok=0; fi
  teardown
  [ "$ok" = 1 ]
}

# systemd_unit: tftpd.service with docs/deployment.md's drop-in for running without
# compiling (deno as /usr/local/bin/deno, the sources as /opt/tftpd) and
# tftpd-origin.conf (its origin: localhost in the namespace) under systemd
# itself, PID 1 of a PID, mount and network namespace: ExecStartPre= loads
# the redirect, a client in another namespace gets a file of the root and
# one of the origin from port 69 over IPv4 and IPv6, the server holds no
# capability and sees only root and itself in its user namespace, and
# stopping it removes the redirect.
systemd_unit() {
  local dir="$WORK/systemd" deno_bin boot pid1="" main="" i a t ok=1
  local n="tftpd-verify-$$-u-s" c="tftpd-verify-$$-u-c" v="tv$$-u" ctl=(false)
  deno_bin="$(readlink -f "$(command -v "$DENO")")" || return 1
  mkdir -p "$dir/units/tftpd.service.d" "$dir/app" && cp -r main.ts deno.json src "$dir/app/" || return 1
  for t in sysinit basic shutdown network multi-user local-fs umount swap verify; do
    printf '[Unit]\nDescription=%s\n' "$t" >"$dir/units/$t.target"
  done
  sed "s#/etc/tftpd-redirect.nft#$dir/tftpd-redirect.nft#" deploy/tftpd.service >"$dir/units/tftpd.service"
  cp deploy/tftpd-redirect.nft "$dir/"
  awk '/^### Without compiling/ { f = 1 } f && /^```ini/ { g = 1; next } g && /^```/ { exit } g' docs/deployment.md \
    >"$dir/units/tftpd.service.d/deno-run.conf"
  grep -q '^ExecStart=/usr/local/bin/deno run' "$dir/units/tftpd.service.d/deno-run.conf" || { echo "no deno run drop-in in docs/deployment.md"; return 1; }
  sed -E 's#--origin [^ "]+#--origin http://localhost:8080/netboot/#' deploy/tftpd-origin.conf >"$dir/units/tftpd.service.d/origin.conf"
  printf 'from the origin\n' >"$dir/o.txt"
  printf '%s\n' "[Service]" "Environment=NO_COLOR=1 DENO_NO_UPDATE_CHECK=1" "StandardOutput=append:$dir/server.log" \
    "StandardError=append:$dir/server.log" >"$dir/units/tftpd.service.d/zz-log.conf"
  head -c 100000 /dev/urandom >"$dir/f.bin" && : >"$dir/deno" && chmod -R a+rX "$dir"
  # What the unit needs and the host may lack goes on mounts of this mount
  # namespace only.
  boot="set -e; mount --make-rprivate /; mount -t proc proc /proc; mount -t tmpfs t /run
    mount -t tmpfs t /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup; ip link set lo up
    mount --bind '$deno_bin' '$dir/deno'
    mount -t tmpfs t /usr/local/bin; : >/usr/local/bin/deno; mount --bind '$dir/deno' /usr/local/bin/deno
    mount -t tmpfs t /opt; mkdir /opt/tftpd; mount --bind '$dir/app' /opt/tftpd
    mount -t tmpfs -o mode=0755 t /srv; mkdir -m 0755 /srv/tftp; cp '$dir/f.bin' /srv/tftp/
    mount -t tmpfs t /var/lib; mkdir -m 0755 /var/lib/tftpd-root; mount -t tmpfs t /var/cache
    export container=verify SYSTEMD_UNIT_PATH='$dir/units'
    exec /lib/systemd/systemd --system --unit=verify.target --log-target=console"
  unshare --pid --fork --mount --net --uts --ipc bash -c "$boot" >"$dir/log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do
    pid1="$(pgrep -P "${PIDS[-1]}" -x systemd)" && ctl=(nsenter -t "$pid1" -m -p -n systemctl --no-pager) &&
      "${ctl[@]}" is-active -q verify.target 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$pid1" ] && ip netns attach "$n" "$pid1" && NETNS+=("$n") && netns "$c" &&
    ip link add "${v}s" netns "$n" type veth peer name "${v}c" netns "$c" &&
    ip -n "$n" addr add 10.69.0.1/24 dev "${v}s" && ip -n "$n" addr add fd69::1/64 dev "${v}s" nodad &&
    ip -n "$c" addr add 10.69.0.2/24 dev "${v}c" && ip -n "$c" addr add fd69::2/64 dev "${v}c" nodad &&
    ip -n "$n" link set "${v}s" up && ip -n "$c" link set "${v}c" up &&
    origin_up "$dir/origin.log" 8080 nsenter -t "$pid1" -n && "${ctl[@]}" start tftpd || ok=0
  for i in $(seq 150); do
    grep -qs 'listening on' "$dir/server.log" && break
    "${ctl[@]}" is-failed -q tftpd && break
    sleep 0.2
  done
  "${ctl[@]}" status tftpd
  [ "$ok" = 1 ] && main="$(pgrep -P "$pid1" -f '^/usr/local/bin/deno run ')"
  if [ -n "$main" ] && grep -qs 'listening on' "$dir/server.log"; then
    for a in 10.69.0.1 fd69::1; do fetch "$c" "$a" "$dir/f.bin" && fetch "$c" "$a" "$dir/o.txt" o.txt || ok=0; done
    echo "uid_map: $(tr -s ' \n' ' ' <"/proc/$main/uid_map")"
    [ "$(wc -l <"/proc/$main/uid_map")" = 2 ] || { echo "not a user namespace of root and the service's user"; ok=0; }
    grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' "/proc/$main/status"
    [ "$(grep -cE '^Cap(Inh|Prm|Eff|Bnd|Amb):[[:space:]]+0+$' "/proc/$main/status")" = 5 ] || { echo "the server holds capabilities"; ok=0; }
    "${ctl[@]}" stop tftpd || ok=0
    if ip netns exec "$n" nft list tables | grep -q tftpd_redirect; then echo "stopping left the redirect"; ok=0; fi
  else
    echo "the server did not start"
    ok=0
  fi
  [ "$ok" = 1 ] || cat "$dir/log" "$dir/server.log"
  [ -z "$pid1" ] || kill -KILL "$pid1"
  teardown
  [ "$ok" = 1 ]
}

PLAIN=(deploy/tftpd.service) UPLOADS=(deploy/tftpd.service deploy/tftpd-uploads.conf)
PORT69=(deploy/tftpd.service deploy/tftpd-port69.conf) ORIGIN=(deploy/tftpd.service deploy/tftpd-origin.conf)
check "verify: tftpd.service" quiet_verify "$WORK/plain/tftpd.service"
check "verify: tftpd.service + uploads.conf" quiet_verify "$WORK/uploads/tftpd.service"
check "verify: tftpd.service + port69.conf" quiet_verify "$WORK/port69/tftpd.service"
check "verify: tftpd.service + origin.conf" quiet_verify "$WORK/origin/tftpd.service"
check "mdwe: MemoryDenyWriteExecute= unset" no_mdwe
check "flags: tftpd.service ExecStart" flags_parse "${PLAIN[@]}"
check "flags: uploads.conf ExecStart" flags_parse "${UPLOADS[@]}"
check "flags: port69.conf ExecStart (port 69)" flags_parse "${PORT69[@]}"
check "flags: origin.conf ExecStart (--origin)" flags_parse "${ORIGIN[@]}"
check "flags: uploads.conf + port69.conf + origin.conf ExecStart" flags_parse "${UPLOADS[@]}" deploy/tftpd-port69.conf deploy/tftpd-origin.conf
check "exposure <= $(tenths $MAX_EXPOSURE): tftpd.service" exposure $MAX_EXPOSURE "$WORK/plain/tftpd.service"
check "exposure <= $(tenths $MAX_EXPOSURE): tftpd.service + uploads.conf" exposure $MAX_EXPOSURE "$WORK/uploads/tftpd.service"
check "exposure <= $(tenths $PORT69_MAX_EXPOSURE): tftpd.service + port69.conf" exposure $PORT69_MAX_EXPOSURE "$WORK/port69/tftpd.service"
check "exposure <= $(tenths $MAX_EXPOSURE): tftpd.service + origin.conf" exposure $MAX_EXPOSURE "$WORK/origin/tftpd.service"
check "sandbox: tftpd.service serves a file" sandbox plain plain "${PLAIN[@]}"
check "sandbox: + uploads.conf accepts uploads into incoming/ only" sandbox uploads uploads "${UPLOADS[@]}"
check "sandbox: + origin.conf serves a name from the origin, resolved by name" sandbox origin origin "${ORIGIN[@]}"
check "redirect: tftpd-redirect.nft sends to TFTPD_PORT" redirect_port
check "redirect (nft): per-port; TFTP to and through the host untouched; stop removes it" redirect nft per-port
check "redirect (nft): --single-port, replies from port 69" redirect nft single-port
check "redirect (docs/deployment.md's iptables line): per-port" redirect iptables per-port
check "redirect (docs/deployment.md's iptables line): --single-port, replies from port 69" redirect iptables single-port
check "redirect: port69.conf removes it" port69_unredirects
check "systemd: the unit + docs/deployment.md's deno run drop-in + origin.conf serve the root and the origin through the redirect, no capability, own user namespace" systemd_unit

[ "$FAILED" -eq 0 ] && r=ok || r=FAILED
echo "$r | $PASSED passed | $FAILED failed"
[ "$FAILED" -eq 0 ]
