/**
 * Netboot with PXELINUX (Debian's `pxelinux` and `syslinux-common`, as in
 * Debian's own netboot tree): SeaBIOS with the NIC's iPXE ROM as the PXE
 * stack, on the private network of `pxe_net.ts`. PXELINUX runs its own TFTP
 * client through the PXE API: it loads `ldlinux.c32`, walks the
 * `pxelinux.cfg/` names (UUID, MAC, the address in hex, shorter and
 * shorter) down to `default`, then `mboot.c32` boots the CRC kernel with the
 * payload as its module, and the kernel prints the CRC-32 of every byte
 * PXELINUX read. Run by `tests/netboot/run.sh`; see `netboot_cases.ts`.
 */

import assert from "node:assert/strict";
import { runQemu } from "./harness.ts";
import { longRun } from "../../testing/gates.ts";
import {
  assertCrcKernel,
  assertSerial,
  escape,
  evidence,
  makeFixture,
  PAYLOAD_SIZE,
} from "./netboot_cases.ts";
import { NS_SERVER, TAP, withPxeNet } from "./pxe_net.ts";

/** Where Debian puts PXELINUX and its BIOS modules. */
const PXELINUX = "/usr/lib/PXELINUX/pxelinux.0";
const BIOS_MODULES = "/usr/lib/syslinux/modules/bios";

const CONFIG = `SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT crc
SAY NB-PXELINUX-CFG-OK
LABEL crc
  KERNEL mboot.c32
  APPEND crc_kernel.elf --- payload.bin
`;

Deno.test({
  name:
    "netboot: PXELINUX (BIOS PXE) walks pxelinux.cfg/ to default and boots a kernel + payload, CRC",
  ignore: longRun("TFTPD_NETBOOT"),
  async fn() {
    const fx = await makeFixture();
    try {
      await Deno.copyFile(PXELINUX, `${fx.root}/pxelinux.0`);
      for await (const e of Deno.readDir(BIOS_MODULES)) {
        if (e.isFile && e.name.endsWith(".c32")) {
          await Deno.copyFile(
            `${BIOS_MODULES}/${e.name}`,
            `${fx.root}/${e.name}`,
          );
        }
      }
      await Deno.mkdir(`${fx.root}/pxelinux.cfg`);
      await Deno.writeTextFile(`${fx.root}/pxelinux.cfg/default`, CONFIG);
      await withPxeNet(fx, [
        `--dhcp-boot=pxelinux.0,,${NS_SERVER}`,
      ], async ({ inNs, server }) => {
        const qemu = await runQemu([
          "-netdev",
          `tap,id=n0,ifname=${TAP},script=no,downscript=no`,
          "-device",
          "virtio-net-pci,netdev=n0",
          "-device",
          "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ], { timeoutS: 120, prefix: inNs });
        assertSerial(qemu, server, /PXELINUX/, "PXELINUX banner");
        assertSerial(qemu, server, /NB-PXELINUX-CFG-OK/, "config read");
        // Every byte arrived: the kernel's CRC-32 of its module is ours.
        assertCrcKernel(qemu, server, fx);
        // Our side: the names PXELINUX tried before default were missing
        // (ERROR 1, and it went on), and each file it loaded was whole.
        const missing = server.log.lines.filter((l) =>
          /RRQ "pxelinux\.cfg\/[^"]+" octet.*: error \(ERROR 1: /.test(l)
        );
        assert.ok(
          missing.some((l) => /pxelinux\.cfg\/01-52-54-00/.test(l)),
          "no MAC-named config probed" + evidence(qemu, server),
        );
        assert.ok(
          missing.some((l) => /pxelinux\.cfg\/C000026/i.test(l)),
          "no address-named config probed" + evidence(qemu, server),
        );
        for (
          const [name, bytes] of [
            ["pxelinux.cfg/default", CONFIG.length],
            ["payload.bin", PAYLOAD_SIZE],
            ["crc_kernel.elf", fx.sizes["crc_kernel.elf"]],
          ] as const
        ) {
          assert.ok(
            server.log.find(
              new RegExp(
                `RRQ "${escape(name)}" octet .*: ok, ${bytes} bytes in `,
              ),
            ),
            `no ok end logged for ${name}` + evidence(qemu, server),
          );
        }
      });
    } finally {
      await Deno.remove(fx.dir, { recursive: true });
    }
  },
});
