/**
 * Netboot: real firmware boots from our server.
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
 * and runs this file with TFTPD_NETBOOT=1. Without that variable every test
 * here is skipped, so `deno task test` stays quick.
 *
 * @module
 */

import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  Child,
  NETBOOT_DIR,
  NetNamespace,
  type QemuRun,
  run,
  type RunningServer,
  runQemu,
  startServer,
} from "./harness.ts";
import { longRun } from "../../testing/gates.ts";

/** Not a multiple of any block size in play, and a few MiB. */
const PAYLOAD_SIZE = 4 * 1024 * 1024 + 321;
const OVMF = "/usr/share/ovmf/OVMF.fd";
/** QEMU's isa-debug-exit turns the kernel's value 0x10 into this status. */
const KERNEL_EXIT = (0x10 << 1) | 1;
/** Per-block debug lines, left out of failure messages. */
const NOISE = /\] \S+ (ACK|DATA) \d+ /;

/** The iPXE script: relative names resolve against its own URL. */
const BOOT_IPXE = `#!ipxe
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

interface Fixture {
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
async function makeFixture(): Promise<Fixture> {
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
function evidence(qemu: QemuRun | undefined, server?: RunningServer): string {
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

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Asserts that a serial line matches `re`. */
function assertSerial(
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
function assertIpxeTransfer(
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
      assert.match(server.listening, /\(read-only\)(, \d+ worker threads)?$/);
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
      const mod = assertSerial(
        qemu,
        server,
        /^NBK MOD .*name=\S*payload\.bin$/,
        "kernel module line",
      );
      const size = PAYLOAD_SIZE.toString(16).padStart(8, "0");
      assert.equal(
        mod,
        `NBK MOD size=${size} crc32=${fx.payloadCrc} ` +
          `name=tftp://${c.urlHost}:${server.port}/payload.bin`,
      );
      assertSerial(qemu, server, /^NBK END$/, "kernel end");
      assert.equal(qemu.code, KERNEL_EXIT, "kernel exit" + evidence(qemu));
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

const TAP = "nbtap0";
/** Addresses inside the private namespace (documentation ranges). */
const NS_SERVER = "192.0.2.1";
const NS_SERVER6 = "2001:db8::1";
/** Debian's `ipxe` package: iPXE for UEFI firmware that has its own NIC driver. */
const SNPONLY_EFI = "/usr/lib/ipxe/snponly.efi";

/** A namespace with a TAP link, our server on port 69 and dnsmasq. */
interface PxeNet {
  /** Command prefix to run inside the namespace. */
  inNs: string[];
  /** Our server, on NS_SERVER:69. */
  server: RunningServer;
}

/**
 * Runs `fn` with a private network namespace holding a TAP device (the
 * guest's wire), our server on port 69 and dnsmasq giving DHCP only (plus
 * IPv6 router advertisements, so iPXE's IPv6 set-up does not wait). Nothing
 * reaches outside: the namespace has no uplink.
 */
async function withPxeNet(
  fx: Fixture,
  dhcpBoot: string[],
  fn: (net: PxeNet) => Promise<void>,
): Promise<void> {
  assert.equal(
    Deno.uid(),
    0,
    "this test needs root for a network namespace and a TAP device",
  );
  let ns: NetNamespace | undefined;
  let server: RunningServer | undefined;
  let dnsmasq: Child | undefined;
  try {
    ns = await NetNamespace.create();
    const inNs = ns.prefix;
    await run([...inNs, "ip", "tuntap", "add", "dev", TAP, "mode", "tap"]);
    await run([...inNs, "ip", "link", "set", TAP, "up"]);
    await run([...inNs, "ip", "addr", "add", `${NS_SERVER}/24`, "dev", TAP]);
    await run([
      ...inNs,
      ...["ip", "-6", "addr", "add", `${NS_SERVER6}/64`, "dev", TAP, "nodad"],
    ]);
    server = await startServer({
      root: fx.root,
      host: NS_SERVER,
      port: 69,
      prefix: inNs,
    });
    dnsmasq = new Child([
      ...inNs,
      "timeout",
      "600",
      "dnsmasq",
      "--keep-in-foreground",
      "--log-facility=-",
      "--conf-file=/dev/null",
      "--port=0",
      `--interface=${TAP}`,
      "--bind-interfaces",
      "--dhcp-range=192.0.2.100,192.0.2.150,255.255.255.0,10m",
      "--enable-ra",
      `--dhcp-range=::,constructor:${TAP},ra-stateless`,
      ...dhcpBoot,
      `--dhcp-leasefile=${fx.dir}/dnsmasq.leases`,
      `--pid-file=${fx.dir}/dnsmasq.pid`,
      "--user=root",
    ]);
    const bound = await dnsmasq.stderr.waitFor(
      /DHCP, sockets bound exclusively to interface/,
      20_000,
    );
    assert.ok(bound, `dnsmasq did not start:\n${dnsmasq.stderr.tail(10)}`);
    await fn({ inNs, server });
  } finally {
    await server?.stop();
    await dnsmasq?.stop();
    await ns?.close();
  }
}

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
 * logged at debug as "probe") and then downloaded it with windowsize 4.
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
  assert.match(probe, /\[DEBUG\]/);
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
