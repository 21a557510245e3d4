#!/bin/sh
# Installs the peer servers the comparison runs against (Debian packages):
# atftpd with apt-get, and tftpd-hpa (which conflicts with atftpd as a package)
# downloaded and unpacked into bench/.peers/tftpd-hpa to run beside it.
# Needs root (apt). Safe to run again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x /usr/sbin/atftpd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq atftpd >/dev/null
fi
hpa="$here/.peers/tftpd-hpa"
if [ ! -x "$hpa/usr/sbin/in.tftpd" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download tftpd-hpa >/dev/null 2>&1 || {
    apt-get update -qq && apt-get download tftpd-hpa >/dev/null; })
  mkdir -p "$hpa"
  dpkg -x "$tmp"/tftpd-hpa_*.deb "$hpa"
  rm -rf "$tmp"
fi
/usr/sbin/atftpd --version 2>&1 | head -1
"$hpa/usr/sbin/in.tftpd" -V 2>&1 | head -1
