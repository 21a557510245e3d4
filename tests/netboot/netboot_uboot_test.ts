/**
 * Netboot with U-Boot (Debian's u-boot-qemu, arm64 `virt` machine under
 * qemu-system-aarch64) on a TAP device in a private network namespace, our
 * server on port 69 (U-Boot here has no `tftpdstp`). The test types at
 * U-Boot's console the way a user does: stops autoboot, sets a static
 * address, `tftpblocksize 1468` and (per case) `tftpwindowsize 64`, runs
 * `tftpboot`, then `crc32` over what arrived. It asserts U-Boot's
 * "Bytes transferred = N" line, the CRC-32 of the loaded bytes and that the
 * transfer ended well before U-Boot's own give-up; it logs the wall time.
 * Run by `tests/netboot/run.sh`.
 *
 * U-Boot 2023.01's virtio-net driver has 32 receive buffers, and once all
 * of them are full at once (a burst of 32 or more DATA before it drains
 * any) it receives nothing more for the rest of the transfer; it only
 * repeats the ACK of the last block it got on its 5 s timer and gives up
 * after ten of them. With `tftpwindowsize 64` it ACKs only at its window
 * boundary, so a server that sends a window at once never ends; ours
 * starts a window above 16 in paced bursts (src/protocol/pacing.ts) and
 * the virtio-net case with windowsize 64 asserts the transfer.
 *
 * `TFTPD_UBOOT_PCAP=PREFIX` also writes a packet capture of each case
 * (tcpdump on the TAP link) to `PREFIX.<ms>.pcap`.
 */

import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import {
  Child,
  type NetNamespace,
  type RunningServer,
  startServer,
} from "./harness.ts";
import { QemuConsole } from "./console.ts";
import { longRun, needs } from "../../testing/gates.ts";
import { escape, NOISE, PAYLOAD_SIZE } from "./netboot_cases.ts";
import { tapNamespace } from "./pxe_net.ts";

/** Debian's u-boot-qemu: U-Boot for QEMU's arm64 `virt` machine. */
const UBOOT_BIN = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";
const QEMU_ARM64 = "qemu-system-aarch64";
const TAP = "ubtap0";
/** Addresses inside the private namespace (documentation range). */
const NS_SERVER = "192.0.2.1";
const GUEST = "192.0.2.2";
/** U-Boot's `tftpblocksize`: the largest that fits a 1500-byte MTU. */
const BLKSIZE = 1468;
/**
 * Upper bound in seconds for one transfer: far below U-Boot's give-up (10
 * timeouts of 5 s without a new block) and far above the few seconds a
 * good transfer takes under TCG on a loaded machine.
 */
const TRANSFER_LIMIT_S = 30;
/** How one U-Boot fetch is set up. */
interface UbootCase {
  /** QEMU NIC model (U-Boot drivers: virtio-net over PCI, e1000). */
  nic: "virtio-net-pci" | "e1000";
  /** U-Boot's `tftpwindowsize`, or none (lock-step). */
  windowsize?: number;
}

/** One server event of the transfer, ms after its first. */
interface ServerEvent {
  ms: number;
  /** `ACK n` received, or `resend` (the server's retransmit timer). */
  what: string;
}

/** What the run showed, for the log line and the assertions. */
interface UbootResult {
  /** Seconds from typing `tftpboot` to its "Bytes transferred" line. */
  seconds?: number;
  /** U-Boot's `Bytes transferred = N`. */
  bytes?: number;
  /** CRC-32 of the loaded bytes by U-Boot's `crc32`. */
  crc?: string;
  /** ACKs received and retransmit rounds, from the server's `-v` log. */
  events: ServerEvent[];
}

/** Parses `YYYY-MM-DD HH:MM:SS,mmm` at the start of a log line, in ms. */
function logTime(line: string): number | undefined {
  const m = line.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) /);
  return m ? Date.parse(`${m[1]}T${m[2]}.${m[3]}`) : undefined;
}

/** The ACKs and resends in the server's `-v` log. */
function eventsOf(server: RunningServer): ServerEvent[] {
  const events: ServerEvent[] = [];
  let t0: number | undefined;
  for (const line of server.log.lines) {
    const m = line.match(/ (?:received (ACK \d+)|timeout: (resend)ing)$/);
    const t = logTime(line);
    if (!m || t === undefined) continue;
    t0 ??= t;
    events.push({ ms: t - t0, what: m[1] ?? m[2] });
  }
  return events;
}

/**
 * The events in short: a run of ACKs evenly spaced in block and without a
 * pause becomes `ACK a..b every k`; a pause of 500 ms or more is shown.
 */
function eventSummary(events: ServerEvent[]): string {
  const parts: string[] = [];
  const block = (i: number) =>
    Number(events[i]?.what.match(/^ACK (\d+)$/)?.[1]);
  const pause = (i: number) => i > 0 && events[i].ms - events[i - 1].ms >= 500;
  for (let i = 0; i < events.length && parts.length < 40;) {
    const head = pause(i) ? `(+${events[i].ms - events[i - 1].ms} ms) ` : "";
    let j = i;
    const step = block(i + 1) - block(i);
    while (step > 0 && block(j + 1) - block(j) === step && !pause(j + 1)) j++;
    parts.push(
      head +
        (j - i >= 2
          ? `ACK ${block(i)}..${block(j)} every ${step}`
          : events[i].what),
    );
    i = j > i + 1 ? j + 1 : i + 1;
  }
  return parts.join(", ");
}

/** Runs `fn` with a namespace, a TAP link and our server on NS_SERVER:69. */
async function withTapNet(
  root: string,
  fn: (inNs: string[], server: RunningServer) => Promise<void>,
): Promise<void> {
  let ns: NetNamespace | undefined;
  let server: RunningServer | undefined;
  let capture: Child | undefined;
  try {
    ns = await tapNamespace(TAP, NS_SERVER);
    const inNs = ns.prefix;
    const pcap = Deno.env.get("TFTPD_UBOOT_PCAP");
    if (pcap) {
      const file = `${pcap}.${Date.now()}.pcap`;
      capture = new Child([
        ...[...inNs, "timeout", "300", "tcpdump", "-i", TAP, "-U", "-n"],
        ...["-s", "96", "-w", file, "udp"],
      ]);
      const up = await capture.stderr.waitFor(/listening on/, 10_000);
      assert.ok(up, `tcpdump did not start: ${capture.stderr.tail(5)}`);
      console.log(`packet capture: ${file}`);
    }
    server = await startServer({
      root,
      host: NS_SERVER,
      port: 69,
      prefix: inNs,
      write: false,
    });
    await fn(inNs, server);
  } finally {
    await server?.stop();
    await capture?.stop();
    await ns?.close();
  }
}

/** The U-Boot prompt at the start of a line. */
const PROMPT = /(^|\n)=> /;

/** Types `cmd` at the prompt and waits for the next prompt. */
async function command(qemu: QemuConsole, cmd: string): Promise<void> {
  await qemu.send(cmd + "\n");
  const back = await qemu.expect(PROMPT, 20_000);
  assert.ok(back, `no prompt after ${JSON.stringify(cmd)}` + tail(qemu));
}

function tail(qemu: QemuConsole, server?: RunningServer): string {
  const parts = [`\n--- serial (last lines) ---\n${qemu.serial.tail(25)}`];
  const err = qemu.stderr.tail(10);
  if (err) parts.push(`--- qemu stderr ---\n${err}`);
  if (server) {
    parts.push(`--- server log ---\n${server.log.tail(20, NOISE)}`);
  }
  return parts.join("\n");
}

/** Boots U-Boot, fetches payload.bin and reads back size and CRC. */
async function ubootFetch(
  c: UbootCase,
  inNs: string[],
  server: RunningServer,
): Promise<UbootResult> {
  const qemu = new QemuConsole([
    QEMU_ARM64,
    ...["-M", "virt", "-cpu", "cortex-a57", "-m", "512", "-accel", "tcg"],
    ...["-nographic", "-no-reboot", "-bios", UBOOT_BIN],
    ...["-netdev", `tap,id=n0,ifname=${TAP},script=no,downscript=no`],
    ...["-device", `${c.nic},netdev=n0,romfile=`],
  ], { timeoutS: 150, prefix: inNs });
  const result: UbootResult = { events: [] };
  try {
    const hit = await qemu.expect(/Hit any key to stop autoboot/, 60_000);
    assert.ok(hit, "U-Boot did not offer to stop autoboot" + tail(qemu));
    await qemu.send(" ");
    assert.ok(await qemu.expect(PROMPT, 20_000), "no prompt" + tail(qemu));
    for (
      const cmd of [
        "pci enum",
        `setenv ipaddr ${GUEST}`,
        "setenv netmask 255.255.255.0",
        `setenv serverip ${NS_SERVER}`,
        "setenv netretry no",
        `setenv tftpblocksize ${BLKSIZE}`,
        c.windowsize
          ? `setenv tftpwindowsize ${c.windowsize}`
          : "setenv tftpwindowsize",
      ]
    ) await command(qemu, cmd);
    const start = performance.now();
    await qemu.send("tftpboot ${loadaddr} payload.bin\n");
    const end = await qemu.expect(
      /Bytes transferred = (\d+) \(|TFTP error[^\n]*|Retry count exceeded/,
      TRANSFER_LIMIT_S * 1000,
    );
    result.events = eventsOf(server);
    if (end?.[1] === undefined) return result;
    result.seconds = (performance.now() - start) / 1000;
    result.bytes = Number(end[1]);
    assert.ok(await qemu.expect(PROMPT, 20_000), "no prompt" + tail(qemu));
    await qemu.send("crc32 ${fileaddr} ${filesize}\n");
    const crc = await qemu.expect(/==> ([0-9a-f]{8})/, 20_000);
    assert.ok(crc, "no crc32 result" + tail(qemu, server));
    result.crc = crc[1];
    return result;
  } catch (err) {
    if (err instanceof Error) err.message += tail(qemu, server);
    throw err;
  } finally {
    await qemu.stop();
  }
}

/**
 * One U-Boot case: the payload arrives whole (size line, CRC-32) well
 * before U-Boot's give-up, and the server logs the windowsize it granted
 * and `ok`.
 */
async function ubootCase(c: UbootCase): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tftpd-uboot-" });
  try {
    const root = `${dir}/root`;
    await Deno.mkdir(root);
    const payload = new Uint8Array(PAYLOAD_SIZE);
    for (let off = 0; off < payload.length; off += 65536) {
      crypto.getRandomValues(payload.subarray(off, off + 65536));
    }
    await Deno.writeFile(`${root}/payload.bin`, payload);
    const want = (crc32(payload) >>> 0).toString(16).padStart(8, "0");
    await withTapNet(root, async (inNs, server) => {
      const r = await ubootFetch(c, inNs, server);
      const label = `${c.nic} windowsize ${c.windowsize ?? "none"}`;
      const asked = server.log.find(
        /\[INFO\] \S+ RRQ "payload\.bin" octet [^:]*$/,
      )
        ?.replace(/^.* octet /, "");
      console.log(
        `u-boot ${label} (asked ${asked}): ` +
          (r.seconds === undefined
            ? `no end within ${TRANSFER_LIMIT_S} s`
            : `${r.bytes} bytes in ${r.seconds.toFixed(2)} s`) +
          `; server saw: ${eventSummary(r.events)}`,
      );
      const file = `RRQ "${escape("payload.bin")}" octet `;
      assert.ok(
        r.seconds !== undefined,
        `${label}: no "Bytes transferred" within ${TRANSFER_LIMIT_S} s ` +
          `(server saw: ${eventSummary(r.events)})\n` +
          server.log.tail(20, NOISE),
      );
      assert.equal(r.bytes, PAYLOAD_SIZE, "Bytes transferred");
      assert.equal(r.crc, want, "crc32 of the loaded bytes");
      const ok = await server.log.waitFor(
        new RegExp(`${file}.*: ok, ${PAYLOAD_SIZE} bytes in `),
        5000,
      );
      assert.ok(ok, "no ok logged\n" + server.log.tail(20, NOISE));
      assert.match(ok, new RegExp(`blksize=${BLKSIZE}\\b`));
      if (c.windowsize) {
        assert.match(ok, new RegExp(`windowsize=${c.windowsize}\\b`));
      } else {
        assert.doesNotMatch(ok, /windowsize=/);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Whether U-Boot for arm64 and its QEMU are installed. */
function haveUboot(): boolean {
  try {
    new Deno.Command(QEMU_ARM64, { args: ["--version"] }).outputSync();
    return Deno.statSync(UBOOT_BIN).isFile;
  } catch {
    return false;
  }
}

/**
 * Asked once, and only in a netboot run (run.sh installs the packages; the
 * quick suite must not fail for their absence under CI).
 */
const NO_UBOOT = Deno.env.get("TFTPD_NETBOOT") === "1" &&
  needs(`U-Boot (${UBOOT_BIN}) and ${QEMU_ARM64}`, haveUboot());

/** Per test, so that each skip prints its long-run marker for .ci/run. */
function ignore(): boolean {
  return longRun("TFTPD_NETBOOT") || NO_UBOOT;
}

Deno.test({
  name: "netboot: U-Boot (virtio-net) lock-step tftpboot, size and crc32",
  ignore: ignore(),
  fn: () => ubootCase({ nic: "virtio-net-pci" }),
});

Deno.test({
  name: "netboot: U-Boot (e1000) tftpwindowsize 64, size and crc32",
  ignore: ignore(),
  fn: () => ubootCase({ nic: "e1000", windowsize: 64 }),
});

Deno.test({
  name:
    "netboot: U-Boot (virtio-net, 32 RX buffers) tftpwindowsize 64, size and crc32",
  ignore: ignore(),
  fn: () => ubootCase({ nic: "virtio-net-pci", windowsize: 64 }),
});
