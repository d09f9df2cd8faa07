/** The parts of kinesalite's and dynalite's factories the tests use (both return a node:http Server). */
declare module 'kinesalite' {
  import type { Server } from 'node:http';
  export default function kinesalite(opts?: { createStreamMs?: number; deleteStreamMs?: number; updateStreamMs?: number; shardLimit?: number }): Server;
}
declare module 'dynalite' {
  import type { Server } from 'node:http';
  export default function dynalite(opts?: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }): Server;
}
