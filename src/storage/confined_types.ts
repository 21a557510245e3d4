/**
 * What `Confined` (`confined.ts`) takes and hands back.
 *
 * @module
 */

import type { CwdLock } from "./cwd_lock.ts";
import type { DirIndex } from "./dir_index.ts";
import type { FsCalls, FsStat } from "./sys.ts";

/** A file opened for reading. */
export interface OpenedFile {
  /** Its descriptor. */
  fd: number;
  /** What its descriptor showed at open time. */
  stat: FsStat;
}

/** An upload's temporary file and where it is to be published. */
export interface UploadSlot {
  /** Descriptor of the temporary file. */
  fd: number;
  /** Real path of the directory it was created in. */
  dir: string;
  /** That directory's identity. */
  dirDev: number;
  /** That directory's identity. */
  dirIno: number;
  /** Temporary file name in `dir`. */
  tmp: string;
  /** Final name in `dir`. */
  target: string;
  /** Replace an existing regular file. */
  overwrite: boolean;
  /** The name as given, for messages. */
  name: string;
}

/** What a {@linkcode Confined} needs. */
export interface ConfinedParts {
  /** The calls made. */
  calls: FsCalls;
  /** The cwd lock. */
  lock: CwdLock;
  /** Case-insensitive lookup, when names are matched ignoring case. */
  index?: DirIndex;
}
