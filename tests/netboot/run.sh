#!/usr/bin/env bash
# Netboot test: real firmware (SeaBIOS + iPXE, OVMF + iPXE, OVMF's own PXE,
# GRUB chained from it, PXELINUX, U-Boot on arm64) boots from our server under QEMU. Installs what it needs from Debian's
# packages when missing (needs root, as CI is), then runs its *_test.ts with
# TFTPD_NETBOOT=1. Prints deno test's summary (`ok | N passed | N failed`);
# the exit status is deno test's.
#
#   bash tests/netboot/run.sh                          # deno on PATH, else npx
#   bash tests/netboot/run.sh npx --yes deno@2.9.6     # this deno command
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
[ -f /usr/lib/u-boot/qemu_arm64/u-boot.bin ] || need+=(u-boot-qemu)
[ -f /usr/lib/ipxe/qemu/efi-virtio.rom ] || need+=(ipxe-qemu)
[ -f /usr/share/ovmf/OVMF.fd ] || need+=(ovmf)
[ -f /usr/lib/ipxe/snponly.efi ] || need+=(ipxe)
[ -f /usr/lib/grub/x86_64-efi/normal.mod ] && command -v grub-mknetdir >/dev/null || need+=(grub-efi-amd64-bin)
[ -f /usr/lib/PXELINUX/pxelinux.0 ] || need+=(pxelinux)
[ -f /usr/lib/syslinux/modules/bios/mboot.c32 ] || need+=(syslinux-common)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
{ command -v as && command -v ld; } >/dev/null || need+=(binutils)
command -v ip >/dev/null || need+=(iproute2)
{ command -v unshare && command -v nsenter; } >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "netboot: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ $# -gt 0 ]; then
  deno=("$@")
elif command -v deno >/dev/null; then
  deno=(deno)
else
  deno=(npx --yes deno@2.9.6)
fi
export TFTPD_NETBOOT=1
exec "${deno[@]}" test --no-prompt --allow-run --allow-read --allow-write \
  --allow-env --allow-sys tests/netboot/
