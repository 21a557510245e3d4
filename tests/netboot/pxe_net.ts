/**
 * The private network the firmware's own PXE client boots on (it needs a
 * real DHCP server and port 69): a network namespace with a TAP device for
 * the guest, dnsmasq for DHCP only and our server on port 69. Shared by the
 * netboot tests that start from firmware PXE (UEFI, and BIOS for pxelinux).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  Child,
  NetNamespace,
  run,
  type RunningServer,
  startServer,
} from "./harness.ts";
import type { Fixture } from "./netboot_cases.ts";

/** The guest's TAP device inside the namespace. */
export const TAP = "nbtap0";
/** Addresses inside the private namespace (documentation ranges). */
export const NS_SERVER = "192.0.2.1";
export const NS_SERVER6 = "2001:db8::1";

/**
 * A fresh network namespace holding the TAP device `tap` (up, with
 * `address`/24): the guest's wire. Closed again if setting it up fails.
 */
export async function tapNamespace(
  tap: string,
  address: string,
): Promise<NetNamespace> {
  const ns = await NetNamespace.create();
  try {
    const inNs = ns.prefix;
    await run([...inNs, "ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
    await run([...inNs, "ip", "link", "set", tap, "up"]);
    await run([...inNs, "ip", "addr", "add", `${address}/24`, "dev", tap]);
    return ns;
  } catch (err) {
    await ns.close();
    throw err;
  }
}

/** A namespace with a TAP link, our server on port 69 and dnsmasq. */
export interface PxeNet {
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
export async function withPxeNet(
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
    ns = await tapNamespace(TAP, NS_SERVER);
    const inNs = ns.prefix;
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
