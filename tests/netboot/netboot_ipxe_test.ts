/**
 * Netboot with iPXE under QEMU (SeaBIOS with virtio-net and e1000 ROMs,
 * OVMF), over IPv4, over IPv6 and from a server with --allow-read only:
 * script, payload, a missing file, and under BIOS the payload's CRC-32. Run
 * by `tests/netboot/run.sh`; see `netboot_cases.ts`.
 */

import assert from "node:assert/strict";
import { type RunningServer, runQemu, startServer } from "./harness.ts";
import { longRun } from "../../testing/gates.ts";
import {
  assertCrcKernel,
  assertIpxeTransfer,
  assertSerial,
  evidence,
  makeFixture,
  OVMF,
  PAYLOAD_SIZE,
} from "./netboot_cases.ts";

/** How one iPXE boot is set up. */
interface IpxeCase {
  firmware: "bios" | "uefi";
  /** QEMU NIC model. */
  nic: "virtio-net-pci" | "e1000";
  /** Server listen address. */
  listen: "127.0.0.1" | "::";
  /** Host part of the boot URL, as the guest sees our host. */
  urlHost: "10.0.2.2" | "[fec0::2]";
  /** Grant --allow-write (false: read-only run). */
  write: boolean;
  /** Peer address pattern in the server log. */
  peer: RegExp;
}

/** Boots iPXE against our server and checks everything both sides show. */
async function ipxeBoot(c: IpxeCase): Promise<void> {
  const fx = await makeFixture();
  let server: RunningServer | undefined;
  try {
    server = await startServer({
      root: fx.root,
      host: c.listen,
      write: c.write,
    });
    if (!c.write) {
      assert.match(
        server.listening,
        /\(read-only\)(, \d+ worker threads( on demand)?)?$/,
      );
      assert.ok(
        server.log.find(/no write permission on .*: serving read-only/),
        "read-only warning missing" + evidence(undefined, server),
      );
    }
    const url = `tftp://${c.urlHost}:${server.port}/boot.ipxe`;
    const args = [
      "-netdev",
      `user,id=n0,bootfile=${url}`,
      "-device",
      `${c.nic},netdev=n0`,
    ];
    if (c.firmware === "bios") {
      args.push("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04");
    } else {
      args.push("-bios", OVMF);
    }
    const qemu = await runQemu(args, {
      timeoutS: c.firmware === "bios" ? 60 : 90,
    });
    const platform = c.firmware === "bios" ? "pcbios" : "efi";

    // The script was fetched and ran.
    assertSerial(
      qemu,
      server,
      new RegExp(`^NB-SCRIPT-OK platform=${platform}\\b`),
      "script",
    );
    // The payload arrived with its exact size (iPXE's imgstat).
    assertSerial(
      qemu,
      server,
      new RegExp(`^payload\\.bin : ${PAYLOAD_SIZE} bytes`),
      "imgstat size",
    );
    assert.equal(qemu.serial.find(/NB-PAYLOAD-FAIL/), undefined);
    // A missing file fails cleanly: iPXE reports it, the script goes on.
    assertSerial(
      qemu,
      server,
      /missing\.bin\.\.\. No such file or directory/,
      "missing file error",
    );
    assertSerial(qemu, server, /^NB-MISSING-OK$/, "script after missing");
    assert.ok(
      server.log.find(/RRQ "missing\.bin" octet.*: error \(ERROR 1: /),
      "server did not log ERROR 1 for missing.bin" + evidence(qemu, server),
    );

    if (c.firmware === "bios") {
      // Every byte arrived: the kernel's CRC-32 of its module is ours.
      const mod = assertCrcKernel(qemu, server, fx);
      const size = PAYLOAD_SIZE.toString(16).padStart(8, "0");
      assert.equal(
        mod,
        `NBK MOD size=${size} crc32=${fx.payloadCrc} ` +
          `name=tftp://${c.urlHost}:${server.port}/payload.bin`,
      );
      assertIpxeTransfer(
        server,
        qemu,
        "crc_kernel.elf",
        fx.sizes["crc_kernel.elf"],
        c.peer,
      );
    } else {
      assertSerial(qemu, server, /^NB-DONE$/, "script end");
    }
    for (const name of ["boot.ipxe", "payload.bin"]) {
      assertIpxeTransfer(server, qemu, name, fx.sizes[name], c.peer);
    }
  } finally {
    await server?.stop();
    await Deno.remove(fx.dir, { recursive: true });
  }
}

Deno.test({
  name: "netboot: BIOS iPXE (virtio-net) fetches script + payload, kernel CRC",
  ignore: longRun("TFTPD_NETBOOT"),
  fn: () =>
    ipxeBoot({
      firmware: "bios",
      nic: "virtio-net-pci",
      listen: "127.0.0.1",
      urlHost: "10.0.2.2",
      write: true,
      peer: /^127\.0\.0\.1:\d+$/,
    }),
});

Deno.test({
  name: "netboot: BIOS iPXE (e1000) fetches script + payload, kernel CRC",
  ignore: longRun("TFTPD_NETBOOT"),
  fn: () =>
    ipxeBoot({
      firmware: "bios",
      nic: "e1000",
      listen: "127.0.0.1",
      urlHost: "10.0.2.2",
      write: true,
      peer: /^127\.0\.0\.1:\d+$/,
    }),
});

Deno.test({
  name: "netboot: UEFI iPXE (OVMF, virtio-net) fetches script + payload",
  ignore: longRun("TFTPD_NETBOOT"),
  fn: () =>
    ipxeBoot({
      firmware: "uefi",
      nic: "virtio-net-pci",
      listen: "127.0.0.1",
      urlHost: "10.0.2.2",
      write: true,
      peer: /^127\.0\.0\.1:\d+$/,
    }),
});

Deno.test({
  name: "netboot: BIOS iPXE over IPv6 (fec0::2 -> ::1, server on ::)",
  ignore: longRun("TFTPD_NETBOOT"),
  fn: () =>
    ipxeBoot({
      firmware: "bios",
      nic: "virtio-net-pci",
      listen: "::",
      urlHost: "[fec0::2]",
      write: true,
      peer: /^\[::1\]:\d+$/,
    }),
});

Deno.test({
  name: "netboot: BIOS iPXE from a server with --allow-read only",
  ignore: longRun("TFTPD_NETBOOT"),
  fn: () =>
    ipxeBoot({
      firmware: "bios",
      nic: "e1000",
      listen: "127.0.0.1",
      urlHost: "10.0.2.2",
      write: false,
      peer: /^127\.0\.0\.1:\d+$/,
    }),
});
