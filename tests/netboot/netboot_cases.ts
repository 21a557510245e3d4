/**
 * Shared pieces of the netboot_*_test.ts suites, where real firmware boots
 * from our server: the served root (boot.ipxe, a random payload and the CRC
 * kernel), the evidence a failing assertion shows, and the checks of the
 * serial console and of the server's log.
 *
 * QEMU runs SeaBIOS + iPXE (virtio-net and e1000 ROMs), OVMF + iPXE, and
 * OVMF's own PXE client. iPXE gets `tftp://10.0.2.2:PORT/boot.ipxe` as its
 * DHCP boot file from QEMU's user-mode network, which forwards the guest's
 * UDP to our server on 127.0.0.1 (or `::1` for `fec0::2`). OVMF's own PXE
 * client runs on a TAP device in a private network namespace with dnsmasq
 * giving DHCP only and our server on port 69.
 *
 * The guest proves what it received on the serial console: marker lines from
 * the iPXE script, iPXE's `imgstat` size line, and under BIOS a CRC-32 of
 * every byte of the payload, computed by a tiny multiboot kernel
 * (`crc_kernel.S`) that iPXE boots with the payload as its module.
 *
 * Needs qemu-system-x86, ipxe-qemu, ovmf, dnsmasq-base, binutils and
 * iproute2, and root for the namespace; `tests/netboot/run.sh` installs them
 * and runs the netboot test files with TFTPD_NETBOOT=1. Without that variable
 * every test there is skipped, so `deno task test` stays quick.
 *
 * @module
 */

import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  NETBOOT_DIR,
  type QemuRun,
  run,
  type RunningServer,
} from "./harness.ts";

/** Not a multiple of any block size in play, and a few MiB. */
export const PAYLOAD_SIZE = 4 * 1024 * 1024 + 321;
export const OVMF = "/usr/share/ovmf/OVMF.fd";

/** Per-block debug lines, left out of failure messages. */
export const NOISE = /\] \S+ (ACK|DATA) \d+ /;

/** The iPXE script: relative names resolve against its own URL. */
export const BOOT_IPXE = `#!ipxe
echo NB-SCRIPT-OK platform=\${platform}
imgfetch payload.bin || echo NB-PAYLOAD-FAIL
imgstat
imgfetch missing.bin || echo NB-MISSING-OK
iseq \${platform} pcbios || goto finish
kernel crc_kernel.elf || echo NB-KERNEL-FAIL
boot || echo NB-BOOT-FAIL
:finish
echo NB-DONE
sleep 1
reboot
`;

export interface Fixture {
  /** Temp folder (removed at the end). */
  dir: string;
  /** The serve root inside it. */
  root: string;
  /** CRC-32 of payload.bin, 8 hex digits. */
  payloadCrc: string;
  /** Sizes of the files served. */
  sizes: Record<string, number>;
}

/** Makes a root with boot.ipxe, a random payload and the CRC kernel. */
export async function makeFixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "tftpd-netboot-" });
  const root = `${dir}/root`;
  await Deno.mkdir(root);
  const payload = new Uint8Array(PAYLOAD_SIZE);
  for (let off = 0; off < payload.length; off += 65536) {
    crypto.getRandomValues(payload.subarray(off, off + 65536));
  }
  await Deno.writeFile(`${root}/payload.bin`, payload);
  await Deno.writeTextFile(`${root}/boot.ipxe`, BOOT_IPXE);
  await run([
    "as",
    "--32",
    "-o",
    `${dir}/crc_kernel.o`,
    `${NETBOOT_DIR}/crc_kernel.S`,
  ]);
  await run([
    "ld",
    "-m",
    "elf_i386",
    "-n",
    "-Ttext",
    "0x100000",
    "-e",
    "_start",
    "-o",
    `${root}/crc_kernel.elf`,
    `${dir}/crc_kernel.o`,
  ]);
  const sizes: Record<string, number> = {};
  for (const name of ["boot.ipxe", "payload.bin", "crc_kernel.elf"]) {
    sizes[name] = (await Deno.stat(`${root}/${name}`)).size;
  }
  return {
    dir,
    root,
    payloadCrc: (crc32(payload) >>> 0).toString(16).padStart(8, "0"),
    sizes,
  };
}

/** What a failing assertion shows: the end of the console and the log. */
export function evidence(
  qemu: QemuRun | undefined,
  server?: RunningServer,
): string {
  const parts: string[] = [];
  if (qemu) {
    parts.push(`QEMU exit code ${qemu.code}`);
    parts.push(`--- serial (last lines) ---\n${qemu.serial.tail(30)}`);
    const err = qemu.stderr.tail(10);
    if (err) parts.push(`--- qemu stderr ---\n${err}`);
  }
  if (server) {
    parts.push(`--- server log ---\n${server.log.tail(30, NOISE)}`);
  }
  return "\n" + parts.join("\n");
}

export function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Asserts that a serial line matches `re`. */
export function assertSerial(
  qemu: QemuRun,
  server: RunningServer | undefined,
  re: RegExp,
  what: string,
): string {
  const line = qemu.serial.find(re);
  assert.ok(
    line !== undefined,
    `${what}: no serial line ${re}` +
      evidence(qemu, server),
  );
  return line;
}

/**
 * Asserts the server's request line (blksize 1432, tsize 0 asked) and its
 * `ok` end line (tsize = size, all bytes) for one file fetched by iPXE.
 */
export function assertIpxeTransfer(
  server: RunningServer,
  qemu: QemuRun,
  name: string,
  size: number,
  peer: RegExp,
): void {
  const rrq = new RegExp(`\\[INFO\\] (\\S+) RRQ "${escape(name)}" octet (.*)$`);
  const request = server.log.lines.find((l) => {
    const m = l.match(rrq);
    return m !== null && !m[2].includes(":");
  });
  assert.ok(request, `no request logged for ${name}` + evidence(qemu, server));
  assert.match(request, /blksize=1432\b/);
  assert.match(request, /tsize=0\b/);
  assert.match(request.match(rrq)![1], peer);
  const end = server.log.find(
    new RegExp(`RRQ "${escape(name)}" octet .*: ok, ${size} bytes in `),
  );
  assert.ok(end, `no ok end logged for ${name}` + evidence(qemu, server));
  assert.match(end, /blksize=1432\b/);
  assert.match(end, new RegExp(`tsize=${size}\\b`));
}

/** QEMU's exit code once the CRC kernel writes 0x10 to isa-debug-exit. */
export const KERNEL_EXIT = (0x10 << 1) | 1;

/**
 * Asserts that the CRC kernel saw the payload whole (its size and CRC-32
 * are the file's), ended and made QEMU exit; returns its module line.
 */
export function assertCrcKernel(
  qemu: QemuRun,
  server: RunningServer,
  fx: Fixture,
): string {
  const mod = assertSerial(
    qemu,
    server,
    /^NBK MOD .*name=\S*payload\.bin$/,
    "kernel module line",
  );
  const size = PAYLOAD_SIZE.toString(16).padStart(8, "0");
  assert.match(
    mod,
    new RegExp(`^NBK MOD size=${size} crc32=${fx.payloadCrc} `),
  );
  assertSerial(qemu, server, /^NBK END$/, "kernel end");
  assert.equal(qemu.code, KERNEL_EXIT, "kernel exit" + evidence(qemu));
  return mod;
}
