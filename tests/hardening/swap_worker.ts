/**
 * A worker for the race tests: swaps `dir/name` between a regular file (or
 * directory) inside the root and a symlink to `outside`, as fast as it can,
 * on its own thread, until the shared stop flag is set.
 *
 * Kinds `file` and `dir` put a fresh file or directory back each time;
 * `file-flip` and `dir-flip` flip between the same inode and the symlink
 * with renames only (four system calls a round, and the real thing keeps
 * its identity, which defeats checks that compare inodes).
 *
 * Message in: `{ root, name, outside, kind, stop }` where
 * `stop` is an `Int32Array` over a `SharedArrayBuffer`: `stop[0]` set
 * stops it, `stop[1]` counts the swaps as they happen. Messages out:
 * `{ started: true }` after the first swap, then `{ swaps }` when stopped,
 * or `{ error }` if a file operation failed.
 *
 * @module
 */

/// <reference lib="deno.worker" />

interface Job {
  root: string;
  name: string;
  outside: string;
  kind: "file" | "dir" | "file-flip" | "dir-flip";
  stop: Int32Array;
}

self.onmessage = (e: MessageEvent<Job>) => {
  const { root, name, outside, kind, stop } = e.data;
  const target = `${root}/${name}`;
  const link = `${root}/.swap-link`;
  const real = `${root}/.swap-real`;
  const old = `${root}/.swap-old`;
  const clear = (path: string) => {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch { /* absent */ }
  };
  // The target starts as the real thing (made by the test).
  let swaps = 0;
  try {
    swapUntilStopped();
  } catch (err) {
    self.postMessage({ error: String(err) });
    self.close();
    return;
  }
  self.postMessage({ swaps });
  self.close();

  function flipUntilStopped(): void {
    while (Atomics.load(stop, 0) === 0) {
      clear(link);
      Deno.symlinkSync(outside, link);
      if (kind === "file-flip") {
        // Keep the file by a second name, replace it by the symlink, put
        // it back: both renames are atomic replacements.
        clear(real);
        Deno.linkSync(target, real);
        Deno.renameSync(link, target);
        Deno.renameSync(real, target);
      } else {
        Deno.renameSync(target, old);
        Deno.renameSync(link, target);
        Deno.renameSync(target, link);
        Deno.renameSync(old, target);
      }
      if (stop.length > 1) Atomics.add(stop, 1, 1);
      if (swaps++ === 0) self.postMessage({ started: true });
    }
  }

  function swapUntilStopped(): void {
    if (kind === "file-flip" || kind === "dir-flip") return flipUntilStopped();
    while (Atomics.load(stop, 0) === 0) {
      // Real -> symlink leading out. A file is replaced atomically; a
      // directory has to be moved aside first.
      clear(link);
      Deno.symlinkSync(outside, link);
      if (kind === "dir") Deno.renameSync(target, old);
      Deno.renameSync(link, target);
      if (kind === "dir") clear(old);
      // Symlink -> real.
      clear(real);
      if (kind === "file") {
        Deno.writeTextFileSync(real, "INSIDE\n");
      } else {
        Deno.mkdirSync(real);
        Deno.writeTextFileSync(`${real}/secret.txt`, "INSIDE\n");
        Deno.renameSync(target, link);
      }
      Deno.renameSync(real, target);
      if (stop.length > 1) Atomics.add(stop, 1, 1);
      if (swaps++ === 0) self.postMessage({ started: true });
    }
  }
};
