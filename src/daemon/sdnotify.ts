/**
 * systemd service notifications (sd_notify): readiness, watchdog keep-alives, status text.
 *
 * Why the `systemd-notify` binary and not a socket of our own: the notification socket
 * (`$NOTIFY_SOCKET`) is an AF_UNIX *datagram* socket, and Node has no unix datagram sockets
 * (`dgram` is UDP only, `net` is stream only). The alternatives are a native addon (one more
 * prebuilt binary per architecture, and one more thing that can fail to load on a vehicle) or a
 * helper process. systemd ships `systemd-notify`, which since v246 sends the message together with
 * a `BARRIER=1` and waits until the manager has processed it, so the old race ("the helper exited
 * before systemd could attribute its message to our unit") cannot drop a notification. The cost
 * is one short-lived child process per message (READY once, WATCHDOG every WatchdogSec/2).
 * Because the sender is a child, the unit needs `NotifyAccess=all`.
 *
 * Everything here is a no-op when `$NOTIFY_SOCKET` is unset (not started by systemd, or
 * Type= is not notify), so the daemon calls it unconditionally.
 */
import { spawn } from 'node:child_process';

export interface SdNotifyOptions {
  /** Environment to read NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Path of the helper binary. Default `systemd-notify` (looked up on PATH). */
  binary?: string;
  /** The daemon's PID (reported as MAINPID with READY=1). Default `process.pid`. */
  pid?: number;
  /** A helper that has not finished after this long is killed (the manager is stuck). Default 10 s. */
  timeoutMs?: number;
  /** Called when a notification could not be delivered. Default: ignore. */
  onError?: (error: Error) => void;
}

/** Sends sd_notify messages for the daemon and feeds the systemd watchdog from a timer. */
export class SdNotifier {
  readonly socket: string | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly binary: string;
  private readonly pid: number;
  private readonly timeoutMs: number;
  private readonly onError: (error: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  private pingInFlight: Promise<void> | undefined;
  private pings = 0;

  constructor(options: SdNotifyOptions = {}) {
    this.env = options.env ?? process.env;
    this.socket = this.env.NOTIFY_SOCKET || undefined;
    this.binary = options.binary ?? 'systemd-notify';
    this.pid = options.pid ?? process.pid;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.onError = options.onError ?? (() => undefined);
  }

  /** True when started by systemd with a notification socket. */
  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** Watchdog keep-alives sent so far (for tests and the status text). */
  get watchdogPings(): number {
    return this.pings;
  }

  /**
   * The watchdog interval systemd asked for (`WatchdogSec=`), in ms; null when there is no
   * watchdog for this process (no socket, no WATCHDOG_USEC, or WATCHDOG_PID names another process).
   */
  watchdogIntervalMs(): number | null {
    if (!this.enabled) return null;
    const usec = Number(this.env.WATCHDOG_USEC);
    if (!Number.isFinite(usec) || usec <= 0) return null;
    const wpid = this.env.WATCHDOG_PID;
    if (wpid && Number(wpid) !== this.pid) return null;
    return Math.max(1, Math.floor(usec / 1000));
  }

  /**
   * Send raw `KEY=VALUE` assignments. Resolves true when the manager took them, false when
   * disabled or delivery failed (reported through `onError`); never rejects.
   */
  notify(fields: Record<string, string | number>, extraArgs: string[] = []): Promise<boolean> {
    if (!this.enabled) return Promise.resolve(false);
    const args = [...extraArgs, ...Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`)];
    return new Promise((resolve) => {
      let settled = false;
      const done = (ok: boolean, error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(kill);
        if (error) this.onError(error);
        resolve(ok);
      };
      const child = spawn(this.binary, args, {
        env: { ...this.env, NOTIFY_SOCKET: this.socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 2000) stderr += d;
      });
      const kill = setTimeout(() => {
        child.kill('SIGKILL');
        done(false, new Error(`${this.binary} did not finish within ${this.timeoutMs} ms (${args.join(' ')})`));
      }, this.timeoutMs);
      kill.unref();
      child.on('error', (e) => done(false, new Error(`cannot run ${this.binary}: ${e.message}`)));
      child.on('close', (code, signal) => {
        if (code === 0) done(true);
        else done(false, new Error(`${this.binary} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
      });
    });
  }

  /** READY=1 (and MAINPID): call once sources are open and the store is loaded. */
  notifyReady(status?: string): Promise<boolean> {
    const fields: Record<string, string | number> = { READY: 1 };
    if (status) fields.STATUS = status;
    return this.notify(fields, [`--pid=${this.pid}`]);
  }

  /** Free-form status line shown by `systemctl status edgewise`. */
  status(text: string): Promise<boolean> {
    return this.notify({ STATUS: text });
  }

  /** Ask for more start-up time (e.g. while a large store is being checked). */
  extendTimeout(ms: number): Promise<boolean> {
    return this.notify({ EXTEND_TIMEOUT_USEC: Math.ceil(ms * 1000) });
  }

  /** STOPPING=1: call when shutdown begins. Also stops the watchdog timer. */
  async notifyStopping(): Promise<boolean> {
    await this.stopWatchdog();
    return this.notify({ STOPPING: 1 });
  }

  /**
   * Send WATCHDOG=1 every half `WatchdogSec=` from a timer on the main event loop: if the loop
   * stalls, the keep-alives stop and systemd kills and restarts the service. Returns the ping
   * interval in ms, or null when systemd runs no watchdog for us (then nothing is started).
   */
  startWatchdog(): number | null {
    const interval = this.watchdogIntervalMs();
    if (interval === null || this.timer) return interval === null ? null : Math.max(1, Math.floor(interval / 2));
    const every = Math.max(1, Math.floor(interval / 2));
    const ping = (): void => {
      // A stuck helper must not pile up children; the next tick tries again.
      if (this.pingInFlight) return;
      this.pingInFlight = this.notify({ WATCHDOG: 1 }).then((ok) => {
        this.pingInFlight = undefined;
        if (ok) this.pings++;
      });
    };
    ping();
    this.timer = setInterval(ping, every);
    this.timer.unref();
    return every;
  }

  /** Stop pinging; resolves once a keep-alive already on its way has been delivered. */
  stopWatchdog(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.pingInFlight ?? Promise.resolve();
  }

  /** Stop the timer (does not send STOPPING=1; see `notifyStopping`). */
  stop(): Promise<void> {
    return this.stopWatchdog();
  }
}
