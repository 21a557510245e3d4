/**
 * Pacing for windowed sends. A receiver with a small receive queue
 * (firmware NICs with small RX rings, a 100 Mb/s port) drops the tail of
 * every window sent at full speed and carries on (U-Boot 2023.01 on
 * virtio-net does not: its 32 buffers filled once, it stops receiving for
 * good, see tests/netboot/netboot_uboot_test.ts); a receiver on a lossy
 * link drops a packet here and there. Both answer with an ACK before the
 * window's end (or none at all), so the sender tells them apart by where
 * the ACKs land: a burst dropper's land at about the same count after the
 * window start, loss after loss; random loss lands anywhere. A resend of a
 * window into a full queue is all duplicates and draws no ACK either, so
 * a second timeout in a row on one window is the same proof.
 *
 * Only then are windows paced (RFC 7440 section 4 suggests a minimum gap
 * between packets): the window stays whole (a receiver such as U-Boot ACKs
 * only at its own window boundary, so a full window sent slower beats a
 * smaller one) and goes out in bursts of half what got through (2 after
 * timeouts), with a pause after each, at a 100 Mb/s wire rate to start.
 * After a window acknowledged whole, the ACK's lag beyond the round trip
 * is the receiver's work on the last burst (for a burst of 2, too little
 * to tell from a cold round trip, the whole lag): while it is at least
 * half the gap the receiver sets the pace and the gap holds; when the
 * receiver idles the gap halves, and pacing ends below 50 us a packet (a
 * fast link that lost packets at random is back to full speed in two
 * windows). A loss while paced halves the burst (never to grow past it
 * again) and slows the gap by 1.25; a burst grows by one per whole window
 * (AIMD).
 *
 * One receiver gives no second chance: U-Boot 2023.01 on virtio-net stops
 * receiving for good once its 32 buffers fill. So a window above
 * `cautiousAbove` starts paced ("cautious": bursts of 4 at 50 Mb/s); an
 * ACK of one of its first `cautiousWindows` windows ends that for a
 * receiver that answered fast; a mid-window ACK ends it too (then evidence
 * decides, as above), and a window that drew no ACK is resent in bursts of
 * 2 at the starting rate (its receiver may hold fewer than 4, and bursts of
 * 2 need no growth to keep up). Any other receiver stays at that pace
 * until most of its recent windows show it fast (U-Boot looks idle between
 * bursts, yet stalls at a faster pace), or a loss it lives through lets its
 * lag move the pace as above. A lag shorter than the round trip known
 * cannot move it either: then too only fast windows end pacing.
 * Every parameter is in `PACING_DEFAULTS`, with why. Pure.
 *
 * @module
 */

import { PACING_DEFAULTS } from "../defaults.ts";

/** Settings of a {@linkcode Pacer}; unset fields take `PACING_DEFAULTS`. */
export interface PacerOptions extends Partial<typeof PACING_DEFAULTS> {
  /** Payload bytes per block (sets the starting gap). */
  blksize: number;
  /**
   * The negotiated windowsize: above `cautiousAbove` the transfer starts
   * in bursts of `cautiousBurst` (default: 1).
   */
  windowsize?: number;
}

/** Not paced; a first timeout makes the resend a paced probe. */
const OFF = 0;
/** The resend after a timeout goes paced; its ACK decides. */
const PROBE = 1;
/** The receiver drops bursts: every window is paced. */
const ON = 2;
/** A big window's start: paced until its first windows show the receiver. */
const CAUTIOUS = 3;
/**
 * After a cautious start the receiver was not fast: the pace holds until
 * windows show it fast, and a loss makes it {@linkcode ON}.
 */
const WARY = 4;

/**
 * Whether, and how, a windowed sender paces.
 *
 * @example
 * ```ts
 * import { Pacer } from "./pacing.ts";
 * const p = new Pacer({ blksize: 1468 });
 * p.onPartial(20); // one loss: random, or a small queue? Not known yet.
 * if (p.paced) throw new Error();
 * p.onPartial(21);
 * p.onPartial(20);
 * p.onPartial(19); // four in a row at about 20: a queue of about 20
 * if (!p.paced || p.burst !== 9) throw new Error(String(p.burst)); // half
 * ```
 */
export class Pacer {
  #o: typeof PACING_DEFAULTS;
  #startGapMs: number;
  #mode = OFF;
  #burst = 0;
  #ceiling = 0;
  #gapMs = 0;
  #minLagMs = Infinity;
  #settled = false;
  #idle = 0;
  #lastGot = -1;
  #streak = 0;
  #timeouts = 0;
  #cautionLeft = 0;
  /** One bit per recent window judged on its lag: 1 when it was fast. */
  #fastBits = 0;

  /**
   * Unpaced until a receiver proves it drops bursts, unless the window is
   * big enough to start cautious.
   *
   * @param options Block size, and any parameter to override.
   */
  constructor(options: PacerOptions) {
    this.#o = { ...PACING_DEFAULTS, ...options };
    // A packet's time on the wire at the starting rate (payload, TFTP, UDP,
    // IP and Ethernet headers, preamble and inter-frame gap), with the
    // margin: a receiver that only just keeps up would keep what a burst
    // queues.
    const bits = (options.blksize + 4 + 8 + 20 + 38) * 8;
    this.#startGapMs = this.#o.margin * bits / (this.#o.startMbps * 1000);
    if ((options.windowsize ?? 1) > this.#o.cautiousAbove) {
      this.#start(CAUTIOUS, this.#o.cautiousBurst);
      this.#cautionLeft = this.#o.cautiousWindows;
      this.#gapMs *= this.#o.startMbps / this.#o.cautiousMbps;
    }
  }

  /** Whether the first windows' ACKs have not yet shown the receiver. */
  get cautious(): boolean {
    return this.#mode === CAUTIOUS;
  }

  /** Whether windows go out in bursts with pauses. */
  get paced(): boolean {
    return this.#mode !== OFF;
  }

  /** Blocks per burst (Infinity when not paced). */
  get burst(): number {
    return this.paced ? this.#burst : Infinity;
  }

  /** The gap per packet while paced, ms (0 when not paced). */
  get gapMs(): number {
    return this.paced ? this.#gapMs : 0;
  }

  /** Pause from one burst's start to the next one's, ms (0: not paced). */
  get pauseMs(): number {
    return this.paced ? this.#burst * this.#gapMs : 0;
  }

  /**
   * A round trip with little queued at the receiver (the ACK of the OACK,
   * an unpaced window acknowledged whole; a paced window's lag holds the
   * receiver's work on its last burst): the shortest is the round trip.
   *
   * @param lagMs Last send to ACK, ms.
   */
  onRoundTrip(lagMs: number): void {
    if (lagMs < this.#minLagMs) this.#minLagMs = lagMs;
  }

  /**
   * A window came back whole, `lagMs` after its last burst of `lastBurst`
   * blocks went out. The lag beyond the shortest round trip is the
   * receiver working through what was queued, at least that burst; noise
   * only adds to it. So while the smallest lag per packet seen since the
   * gap last changed is at least half the gap, the receiver is what sets
   * the pace and the gap holds; once it is less, the receiver idles
   * between bursts and the gap halves, down to full speed.
   *
   * @param lagMs Last send to the ACK, ms.
   * @param lastBurst Blocks in the last burst.
   */
  onWindow(lagMs: number, lastBurst: number): void {
    // The lag is judged against the round trips seen before this window
    // (none yet: no judgement).
    const roundTrip = this.#minLagMs;
    this.#streak = 0;
    this.#timeouts = 0;
    const o = this.#o;
    if (this.#mode === OFF) {
      this.onRoundTrip(lagMs);
      return;
    }
    // The shortest lag includes the receiver's work on at least one
    // packet, so a burst of n shows the work on n - 1 beyond it. But the
    // round trip may have been measured cold (U-Boot took 1.2 ms to answer
    // the OACK, 0.5 ms to ACK a burst of 8; a PC on loopback 0.08-0.7 ms,
    // then 0.04-0.3 ms): longer than the lag, it says nothing. A burst of
    // 2 shows one packet's work (0.12 ms at 100 Mb/s), less than that
    // error, so it is judged on its whole lag: a cold 0.23 ms made the
    // K = 4 model look idle, the gap halved and it lost block after block
    // (1.2-10 s for 4 MiB against 0.7 s).
    const measured = roundTrip <= lagMs && lastBurst >= 2;
    const perPacket = measured && lastBurst > 2
      ? (lagMs - roundTrip) / (lastBurst - 1)
      : lagMs / lastBurst;
    // A receiver far faster than any small ring goes full speed. Judged on
    // the whole lag: a round trip taken from it could make U-Boot look
    // fast (OACK 0.55 ms, a window's last burst 0.63 ms).
    const fast = lagMs * 1000 < o.cautiousFastUs * lastBurst;
    if (this.#mode === CAUTIOUS) {
      if (fast) this.#stop();
      else if (--this.#cautionLeft <= 0) this.#mode = WARY;
      return;
    }
    if (this.#mode !== WARY) {
      // A paced resend after a timeout was needed: every window goes paced.
      this.#mode = ON;
      this.#burst = Math.min(this.#burst + 1, this.#ceiling);
    }
    // Only fast windows, most of the last few, speed up a wary receiver:
    // U-Boot looks idle between bursts (0.67 ms for 8 at the median) yet
    // stops for good once the gap halves (CI, 2026-12-03: 258 -> 129 -> 64
    // us, then full speed, stalled after block 823). So does a lag below
    // the round trip (too little to move the gap): before, a cold round
    // trip kept a PC on loopback paced for a whole 100 MiB read (7 s
    // against 0.8 s).
    if (this.#mode === WARY || !measured) {
      this.#fastBits = ((this.#fastBits << 1) | (fast ? 1 : 0)) &
        ((1 << o.fastOf) - 1);
      if (bitCount(this.#fastBits) >= o.fastWindows) this.#stop();
      return;
    }
    this.#fastBits = 0;
    if (!(perPacket < this.#gapMs * o.idleShare)) {
      // The receiver set the pace: the gap stays (a loss still slows it),
      // and only idle windows in a row speed it up again.
      this.#settled = true;
      this.#idle = 0;
      return;
    }
    if (++this.#idle < (this.#settled ? o.idleWindows : 1)) return;
    this.#idle = 0;
    this.#gapMs *= o.speedUp;
    // The receiver keeps up with anything: full speed, and new proof
    // needed before pacing again.
    if (this.#gapMs < o.minGapMs) this.#stop();
  }

  /**
   * An ACK acknowledged `got` blocks of a window and not the rest (a
   * mid-window ACK, or the ACK that answers a resend after a timeout).
   *
   * @param got Blocks of the window that arrived in order.
   */
  onPartial(got: number): void {
    const o = this.#o;
    this.#timeouts = 0;
    // A resend answered before its end: a random loss, repaired. A loss
    // in a cautious start is no proof of a small queue either (at 1% loss
    // pacing on it cost 8x): evidence decides, as for any window.
    if (this.#mode === CAUTIOUS) this.#stop();
    else if (this.#mode === PROBE) this.#mode = OFF;
    else if (this.#mode === WARY) this.#mode = ON;
    const last = this.#lastGot;
    const near = last >= 0 && Math.abs(got - last) <= o.tolerance;
    this.#streak = near ? this.#streak + 1 : 1;
    this.#lastGot = got;
    if (this.#mode === OFF) {
      // Half of what got through: a burst the sends delay merges with the
      // next one at the receiver, and the two must still fit.
      if (this.#streak >= o.evidence) this.#start(ON, got >> 1);
    } else if (near) {
      // Paced and still losing at the same count: the queue fills faster
      // than it drains. A loss somewhere else is random: no change.
      this.#burst = clamp(Math.min(this.#burst >> 1, got), 2, this.#ceiling);
      this.#ceiling = this.#burst;
      this.#slowDown();
    }
  }

  /** The window drew no ACK in the retransmit interval. */
  onTimeout(): void {
    this.#timeouts++;
    if (this.#mode === CAUTIOUS) {
      // Cautious bursts drew no ACK: a queue that holds less, or a random
      // loss. The resend goes paced at once, in bursts of 2 that never
      // grow: at the starting rate they keep any queue of 4 or more from
      // filling, while a queue of 4 lost blocks again within a few windows
      // in bursts of 3 or 4 (Deno's sends leave in clumps). An unpaced
      // resend drew a second timeout there (0.1 s of a 0.7 s read). A fast
      // receiver that only lost a block leaves pacing in a few windows, on
      // its lag.
      this.#start(PROBE, this.#o.firstBurst);
      return;
    }
    if (this.#mode === OFF) {
      // A resend from the window start into a full receive queue is all
      // duplicates and draws no ACK either, while a random loss is mostly
      // repaired by one resend: the second resend in a row goes paced, and
      // its ACK tells. What the queue holds is not known: the burst starts
      // small and may grow.
      if (this.#timeouts >= this.#o.timeouts) {
        this.#start(PROBE, this.#o.firstBurst);
        this.#ceiling = this.#o.maxBurst;
      }
    } else if (this.#mode === ON || this.#mode === WARY) {
      // A receiver that lost a window and lives is no U-Boot: its lag
      // may move the pace again.
      this.#mode = ON;
      // Not below 2: a burst of one block shows nothing of the receiver's
      // work (see onWindow), so the pace could never speed up again.
      this.#burst = clamp(this.#burst >> 1, 2, this.#ceiling);
      this.#ceiling = this.#burst;
      this.#slowDown();
    }
  }

  #start(mode: number, burst: number): void {
    this.#mode = mode;
    this.#ceiling = clamp(burst, 1, this.#o.maxBurst);
    this.#burst = this.#ceiling;
    this.#gapMs = this.#startGapMs;
    this.#settled = false;
    this.#idle = 0;
    this.#streak = 0;
    this.#fastBits = 0;
  }

  #stop(): void {
    this.#mode = OFF;
    this.#lastGot = -1;
  }

  #slowDown(): void {
    this.#gapMs = Math.min(
      this.#gapMs * this.#o.slowDown,
      this.#o.maxSlowDown * this.#startGapMs,
    );
    this.#settled = true;
    this.#idle = 0;
  }
}

function bitCount(bits: number): number {
  let n = 0;
  for (let b = bits; b !== 0; b &= b - 1) n++;
  return n;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
