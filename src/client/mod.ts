/**
 * The TFTP client library.
 *
 * @module
 */

export * from "./client.ts";
export * from "./cli.ts";
