import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { AgentStatus } from '../../control/index.js';
import { INSTALLED_CONFIG, INSTALLED_STATUS_SOCKET, loadConfig } from '../../daemon/index.js';
import { readStatus } from '../../daemon/index.js';
import { EdgewiseError } from '../../errors.js';

function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${sec}s`;
  return `${sec}s`;
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

/** One screen a field engineer can read: what runs, is data coming in, is it getting out. */
export function formatStatus(s: AgentStatus): string {
  const out: string[] = [];
  const a = s.agent;
  out.push(`edgewise ${a.version}  vehicle ${a.vehicle}  pid ${a.pid}  up ${formatDuration(a.uptimeSeconds)}  config ${a.configHash}`);
  out.push('');

  out.push(`sources (${s.sources.length})`);
  if (s.sources.length === 0) out.push('  none');
  out.push(
    ...table(
      s.sources.map((src) => [
        src.name,
        src.kind,
        src.state,
        `${num(src.framesPerSecond)} frames/s`,
        `${num(src.frames)} frames`,
        `${num(src.errors)} errors`,
        src.dropped === undefined ? '' : `${num(src.dropped)} dropped`,
      ]),
    ),
  );

  const d = s.decode;
  const unknownPct = d.frames > 0 ? ` (${((d.unknown / d.frames) * 100).toFixed(1)}%)` : '';
  out.push(`decode     ${num(d.frames)} frames  ${num(d.unknown)} unknown id${unknownPct}  ${num(d.errors)} errors`);
  if (s.memory) {
    const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
    out.push(`memory     RSS ${mb(s.memory.rssBytes)}  heap ${mb(s.memory.heapUsedBytes)}  external ${mb(s.memory.externalBytes)}`);
  }

  const st = s.store;
  const fill = st.maxBytes > 0 ? ((st.bytes / st.maxBytes) * 100).toFixed(1) : '0.0';
  out.push(
    `store      ${formatBytes(st.bytes)} / ${formatBytes(st.maxBytes)} (${fill}% full)  ${num(st.batches)} batches  ` +
      `oldest ${st.oldestAgeSeconds === null ? '-' : formatDuration(st.oldestAgeSeconds)}  ${num(st.evictions)} evicted` +
      (st.movedAside ? `  ${num(st.movedAside)} moved aside` : ''),
  );

  const u = s.upload;
  if (!u.enabled || u.state === 'disabled') {
    out.push('upload     disabled (store only)');
  } else {
    out.push(
      `upload     ${u.state.toUpperCase()}  ${u.endpoint}` +
        (u.lastConnect ? `  last connect ${u.lastConnect}` : '  never connected') +
        `  ${num(u.reconnects)} reconnects`,
    );
    out.push(`           ${num(u.published)} published  ${num(u.acked)} acked  ${num(u.failed)} failed  ${num(u.inFlight)} in flight`);
  }
  if (u.lastError) out.push(`           last error: ${u.lastError}`);
  out.push('');

  out.push(`campaigns (${s.campaigns.length})`);
  if (s.campaigns.length === 0) out.push('  none deployed');
  out.push(
    ...table(
      s.campaigns.map((c) => [c.name, `v${c.version}`, c.state, `${num(c.triggers)} triggers`, `${num(c.batches)} batches`]),
    ),
  );

  if (s.lastOta) {
    const o = s.lastOta;
    out.push('');
    out.push(`last OTA   ${o.result} ${o.version} (job ${o.jobId}) at ${o.at}${o.reason ? `: ${o.reason}` : ''}`);
  }
  return out.join('\n') + '\n';
}

/** Socket to ask: --socket, else `statusSocket` of --config (or the installed config), else the default. */
export function resolveSocket(opts: { socket?: string; config?: string }, warn: (msg: string) => void = () => undefined): string {
  if (opts.socket) return opts.socket;
  const file = opts.config ?? (existsSync(INSTALLED_CONFIG) ? INSTALLED_CONFIG : undefined);
  if (!file) return INSTALLED_STATUS_SOCKET;
  try {
    return loadConfig(file).statusSocket;
  } catch (e) {
    if (opts.config) throw e; // asked for explicitly: its problems are the answer
    warn(`cannot read ${file} (${(e as Error).message.split('\n')[0]}); trying ${INSTALLED_STATUS_SOCKET}`);
    return INSTALLED_STATUS_SOCKET;
  }
}

export function register(program: Command): void {
  program
    .command('status')
    .description('Show what the running daemon is doing: sources, decoding, store, upload, campaigns')
    .option('-s, --socket <path>', `status socket of the daemon (default: statusSocket of the config, else ${INSTALLED_STATUS_SOCKET})`)
    .option('-c, --config <file>', `daemon config to take statusSocket from (default: ${INSTALLED_CONFIG} if present)`)
    .option('--json', 'print the raw AgentStatus JSON')
    .option('--timeout <ms>', 'give up after this many milliseconds', '5000')
    .action(async (opts: { socket?: string; config?: string; json?: boolean; timeout: string }) => {
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new EdgewiseError('USAGE', `--timeout must be a positive number, got ${opts.timeout}`);
      const socket = resolveSocket(opts, (m) => process.stderr.write(`edgewise: ${m}\n`));
      const status = await readStatus(socket, timeout);
      process.stdout.write(opts.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
    });
}
