/**
 * The TFTP client library.
 *
 * @module
 */

export * from "./client.ts";
