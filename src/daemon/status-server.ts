/**
 * The daemon's status socket: a unix stream socket that answers every connection with the
 * current `AgentStatus` as one line of JSON and closes. `edgewise status` is the client.
 *
 * Access control is the file mode: 0660, so root and members of the service's group can read
 * it (the unit's RuntimeDirectory is 0750, group edgewise). No request is parsed, so nothing a
 * client sends can reach the daemon.
 */
import net from 'node:net';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { AgentStatus } from '../control/index.js';
import { EdgewiseError } from '../errors.js';

/** Longest unix socket path Linux accepts (sun_path is 108 bytes incl. the NUL). */
const MAX_SOCKET_PATH = 107;

export interface StatusServerOptions {
  /** Socket path (config `statusSocket`). */
  path: string;
  /** Called once per connection; must be cheap (it is the same snapshot the shadow reports). */
  collect: () => AgentStatus;
  /** File mode of the socket. Default 0o660. */
  mode?: number;
}

function isErrno(e: unknown, code: string): boolean {
  return (e as NodeJS.ErrnoException)?.code === code;
}

/** Resolves true when something accepts connections on `socketPath`. */
function probe(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    const t = setTimeout(() => {
      c.destroy();
      resolve(true); // accepted but silent: someone is there
    }, timeoutMs);
    c.once('connect', () => {
      clearTimeout(t);
      c.destroy();
      resolve(true);
    });
    c.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export class StatusServer {
  readonly path: string;
  private readonly collect: () => AgentStatus;
  private readonly mode: number;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(options: StatusServerOptions) {
    this.path = options.path;
    this.collect = options.collect;
    this.mode = options.mode ?? 0o660;
  }

  /**
   * Listen. A stale socket left by a crashed daemon is removed; a socket another running daemon
   * still answers on, or a path that is not a socket, is an error (IO) and is left alone.
   */
  async start(): Promise<void> {
    if (this.server) return;
    if (Buffer.byteLength(this.path) > MAX_SOCKET_PATH) {
      throw new EdgewiseError('IO', `status socket path is longer than ${MAX_SOCKET_PATH} bytes: ${this.path}`, { file: this.path });
    }
    mkdirSync(path.dirname(this.path), { recursive: true, mode: 0o750 });
    let existing: ReturnType<typeof lstatSync> | undefined;
    try {
      existing = lstatSync(this.path);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw new EdgewiseError('IO', `cannot inspect ${this.path}: ${(e as Error).message}`, { file: this.path });
    }
    if (existing) {
      if (!existing.isSocket()) {
        throw new EdgewiseError('IO', `status socket path ${this.path} exists and is not a socket; refusing to remove it`, { file: this.path });
      }
      if (await probe(this.path)) {
        throw new EdgewiseError('IO', `another edgewise is already serving status on ${this.path}`, { file: this.path });
      }
      unlinkSync(this.path);
    }

    const server = net.createServer((socket) => this.answer(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new EdgewiseError('IO', `cannot listen on status socket ${this.path}: ${e.message}`, { file: this.path })));
      server.listen(this.path, () => resolve());
    });
    // Errors after start (e.g. EMFILE on accept) must not crash the daemon; the next connection retries.
    server.on('error', () => undefined);
    chmodSync(this.path, this.mode);
    this.server = server;
  }

  private answer(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(5000, () => socket.destroy());
    let body: string;
    try {
      body = JSON.stringify(this.collect());
    } catch (e) {
      body = JSON.stringify({ error: `status unavailable: ${(e as Error).message}` });
    }
    socket.end(body + '\n');
  }

  /** Stop listening and remove the socket file. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone (net.Server removes it on close on some versions) */
    }
  }
}

/**
 * Client side: read one status snapshot from the daemon. Errors are EdgewiseError IO with a
 * message a field engineer can act on.
 */
export function readStatus(socketPath: string, timeoutMs = 5000): Promise<AgentStatus> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    const chunks: Buffer[] = [];
    const fail = (msg: string): void => {
      c.destroy();
      clearTimeout(t);
      reject(new EdgewiseError('IO', msg, { socket: socketPath }));
    };
    const t = setTimeout(() => fail(`no answer from ${socketPath} within ${timeoutMs} ms (is edgewise hung? see journalctl -u edgewise)`), timeoutMs);
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') fail(`is edgewise running? socket ${socketPath} not found`);
      else if (e.code === 'ECONNREFUSED') fail(`is edgewise running? nothing is listening on ${socketPath} (stale socket)`);
      else if (e.code === 'EACCES') fail(`permission denied on ${socketPath}: run as root or add your user to the edgewise group`);
      else fail(`cannot read status from ${socketPath}: ${e.message}`);
    });
    c.on('end', () => {
      clearTimeout(t);
      const text = Buffer.concat(chunks).toString('utf8').trim();
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch {
        reject(new EdgewiseError('IO', `unexpected answer from ${socketPath} (not JSON): ${text.slice(0, 80)}`, { socket: socketPath }));
        return;
      }
      const err = (data as { error?: unknown }).error;
      if (typeof err === 'string') reject(new EdgewiseError('IO', `edgewise answered: ${err}`, { socket: socketPath }));
      else resolve(data as AgentStatus);
    });
  });
}
