/**
 * Netboot with OVMF's own PXE client (and its chains to Debian's snponly.efi
 * and to GRUB as `grub-mknetdir` sets it up) on the private network of
 * `pxe_net.ts`. Run by `tests/netboot/run.sh`; see `netboot_cases.ts`.
 */

import assert from "node:assert/strict";
import { type QemuRun, run, type RunningServer, runQemu } from "./harness.ts";
import { longRun } from "../../testing/gates.ts";
import {
  assertIpxeTransfer,
  assertSerial,
  escape,
  evidence,
  makeFixture,
  OVMF,
  PAYLOAD_SIZE,
} from "./netboot_cases.ts";
import { NS_SERVER, TAP, withPxeNet } from "./pxe_net.ts";

/** Debian's `ipxe` package: iPXE for UEFI firmware that has its own NIC driver. */
const SNPONLY_EFI = "/usr/lib/ipxe/snponly.efi";
/** Debian's `grub-efi-amd64-bin`: GRUB's modules, for `grub-mknetdir`. */
const GRUB_EFI_DIR = "/usr/lib/grub/x86_64-efi";

/**
 * GRUB's configuration: prove the payload arrived whole (its SHA-256, which
 * GRUB computes from what it read over TFTP) and power off.
 */
const GRUB_CFG = `set timeout=0
echo NB-GRUB-CFG-OK
hashsum --hash sha256 (tftp)/payload.bin
cat (tftp)/missing.txt
echo NB-GRUB-DONE
halt
`;

/** QEMU arguments: OVMF, NIC on the TAP device, the NIC's iPXE ROM off. */
const OVMF_PXE_ARGS = [
  "-bios",
  OVMF,
  "-netdev",
  `tap,id=n0,ifname=${TAP},script=no,downscript=no`,
  "-device",
  "virtio-net-pci,netdev=n0,romfile=",
];

/**
 * Asserts that UEFI PXE probed `name`'s size (ERROR 8 after the OACK,
 * logged at info as "probe") and then downloaded it with windowsize 4.
 */
async function assertUefiPxeTransfer(
  qemu: QemuRun,
  server: RunningServer,
  name: string,
  size: number,
): Promise<void> {
  const file = `RRQ "${escape(name)}" octet `;
  const probe = server.log.find(new RegExp(`${file}.*: probe `));
  assert.ok(probe, `no probe logged for ${name}` + evidence(qemu, server));
  assert.match(probe, /\[INFO\]/);
  assert.match(probe, new RegExp(`tsize=${size}\\b`));
  assert.match(probe, /ERROR 8/);
  const ok = await server.log.waitFor(
    new RegExp(`${file}.*: ok, ${size} bytes in `),
    5000,
  );
  assert.ok(ok, `no ok download logged for ${name}` + evidence(qemu, server));
  assert.match(ok, /windowsize=4\b/);
  assert.match(ok, /blksize=1468\b/);
}

Deno.test({
  name: "netboot: UEFI firmware PXE (OVMF, no iPXE) in a private namespace",
  ignore: longRun("TFTPD_NETBOOT"),
  async fn() {
    const fx = await makeFixture();
    try {
      await withPxeNet(fx, [
        `--dhcp-boot=payload.bin,,${NS_SERVER}`,
      ], async ({ inNs, server }) => {
        const qemu = await runQemu(OVMF_PXE_ARGS, {
          timeoutS: 120,
          stopWhen: /NBP file downloaded successfully/,
          prefix: inNs,
        });
        // The guest: its PXE client learned the size, then downloaded.
        assertSerial(qemu, server, /Start PXE over IPv4/, "PXE start");
        assertSerial(
          qemu,
          server,
          new RegExp(`NBP filesize is ${PAYLOAD_SIZE} Bytes`),
          "size probe result",
        );
        assertSerial(
          qemu,
          server,
          /NBP file downloaded successfully/,
          "download",
        );
        assert.equal(qemu.serial.find(/iPXE/), undefined, "iPXE ran");
        // Our side: the probe and the windowed download.
        await assertUefiPxeTransfer(qemu, server, "payload.bin", PAYLOAD_SIZE);
      });
    } finally {
      await Deno.remove(fx.dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "netboot: UEFI PXE chains to Debian's snponly.efi, then boot.ipxe",
  ignore: longRun("TFTPD_NETBOOT"),
  async fn() {
    const fx = await makeFixture();
    try {
      await Deno.copyFile(SNPONLY_EFI, `${fx.root}/snponly.efi`);
      const efiSize = (await Deno.stat(SNPONLY_EFI)).size;
      // The dnsmasq set-up the README's Netboot section gives for real networks.
      await withPxeNet(fx, [
        "--dhcp-match=set:ipxe,175",
        "--dhcp-match=set:efi64,option:client-arch,7",
        "--dhcp-match=set:efi64,option:client-arch,9",
        `--dhcp-boot=tag:efi64,tag:!ipxe,snponly.efi,,${NS_SERVER}`,
        `--dhcp-boot=tag:ipxe,tftp://${NS_SERVER}/boot.ipxe`,
      ], async ({ inNs, server }) => {
        const qemu = await runQemu(OVMF_PXE_ARGS, {
          timeoutS: 120,
          prefix: inNs,
        });
        // Firmware PXE fetched iPXE, which fetched the script and payload.
        assertSerial(
          qemu,
          server,
          new RegExp(`NBP filesize is ${efiSize} Bytes`),
          "size probe result",
        );
        assertSerial(qemu, server, /^NB-SCRIPT-OK platform=efi\b/, "script");
        assertSerial(
          qemu,
          server,
          new RegExp(`^payload\\.bin : ${PAYLOAD_SIZE} bytes`),
          "imgstat size",
        );
        assertSerial(qemu, server, /^NB-MISSING-OK$/, "script after missing");
        assertSerial(qemu, server, /^NB-DONE$/, "script end");
        await assertUefiPxeTransfer(qemu, server, "snponly.efi", efiSize);
        const peer = /^192\.0\.2\.\d+:\d+$/;
        for (const name of ["boot.ipxe", "payload.bin"]) {
          assertIpxeTransfer(server, qemu, name, fx.sizes[name], peer);
        }
      });
    } finally {
      await Deno.remove(fx.dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "netboot: UEFI PXE boots GRUB (grub-mknetdir), which loads its modules, grub.cfg and a payload",
  ignore: longRun("TFTPD_NETBOOT"),
  async fn() {
    const fx = await makeFixture();
    try {
      // As GRUB's manual says to set up a network boot.
      await run([
        "grub-mknetdir",
        `--net-directory=${fx.root}`,
        "--subdir=grub",
        "-d",
        GRUB_EFI_DIR,
      ]);
      await Deno.writeTextFile(`${fx.root}/grub/grub.cfg`, GRUB_CFG);
      const payload = await Deno.readFile(`${fx.root}/payload.bin`);
      const sha = new Uint8Array(
        await crypto.subtle.digest("SHA-256", payload),
      );
      const hex = [...sha].map((b) => b.toString(16).padStart(2, "0")).join("");
      await withPxeNet(fx, [
        `--dhcp-boot=grub/x86_64-efi/core.efi,,${NS_SERVER}`,
      ], async ({ inNs, server }) => {
        const qemu = await runQemu(OVMF_PXE_ARGS, {
          timeoutS: 180,
          stopWhen: /NB-GRUB-DONE/,
          prefix: inNs,
        });
        assertSerial(qemu, server, /NB-GRUB-CFG-OK/, "grub.cfg read");
        assertSerial(
          qemu,
          server,
          new RegExp(`${hex}\\s+\\(tftp\\)/payload\\.bin`),
          "payload's SHA-256 as GRUB read it",
        );
        assertSerial(qemu, server, /NB-GRUB-DONE/, "grub.cfg end");
        // Our side: the modules GRUB loaded one by one, grub.cfg, the payload
        // whole, and the missing name answered with ERROR 1.
        const ok = (name: string) =>
          server.log.find(
            new RegExp(`RRQ "${escape(name)}" octet .*: ok, \\d+ bytes in `),
          );
        assert.ok(ok("/grub/x86_64-efi/normal.mod"), evidence(qemu, server));
        assert.ok(ok("/grub/grub.cfg"), evidence(qemu, server));
        const end = server.log.find(
          new RegExp(
            `RRQ "/payload\\.bin" octet .*: ok, ${PAYLOAD_SIZE} bytes in `,
          ),
        );
        assert.ok(end, `no ok payload logged` + evidence(qemu, server));
        // GRUB asks blksize 1024 and tsize, and gets both.
        assert.match(end, /blksize=1024\b/);
        assert.match(end, new RegExp(`tsize=${PAYLOAD_SIZE}\\b`));
        assert.ok(
          server.log.find(/RRQ "\/missing\.txt" octet: error \(ERROR 1: /),
          `no ERROR 1 for missing.txt` + evidence(qemu, server),
        );
      });
    } finally {
      await Deno.remove(fx.dir, { recursive: true });
    }
  },
});
