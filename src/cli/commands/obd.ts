/**
 * `edgewise obd`: OBD-II tools.
 *   obd decode <request> <response>   decode a pasted ELM327 response (JSON, one object per line)
 *   obd pids                          the service 01 PIDs edgewise decodes
 *   obd simulate                      an ELM327 simulator on a pty or TCP port (bench, tests)
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { EdgewiseError } from '../../errors.js';
import {
  decodeAdapterResponse,
  decodeEcuMessages,
  decodeDtcs,
  decodeVin,
  hex2,
  pidDef,
  isBitmapPid,
  supportedFromBitmap,
  PIDS,
  startElmSimulator,
  parseSimTable,
  DEMO_SIM_TABLE,
  ElmTransport,
  IsoTpTransport,
  type ElmFraming,
  type ObdTransport,
} from '../../obd/index.js';
import { openSocketCanPort } from '../../obd/index.js';

/** Connects, discovers and reads everything once: adapter, ECUs, supported PIDs and their values, VIN, DTCs. */
async function scan(t: ObdTransport): Promise<Record<string, unknown>> {
  const link = await t.open();
  try {
    const supported = new Map<string, Set<number>>();
    for (let base = 0; base <= 0xe0; base += 0x20) {
      if (base > 0 && ![...supported.values()].some((s) => s.has(base))) break;
      const a = await t.request(Uint8Array.of(0x01, base));
      for (const m of a.messages) {
        if (m.data[0] !== 0x41 || m.data[1] !== base || m.data.length < 6) continue;
        const k = m.ecu ?? 'ECU';
        if (!supported.has(k)) supported.set(k, new Set());
        for (const p of supportedFromBitmap(base, m.data, 2)) supported.get(k)!.add(p);
      }
    }
    const ecus: Record<string, { supported: string[]; values: Record<string, unknown> }> = {};
    for (const [k, set] of [...supported].sort()) ecus[k] = { supported: [...set].sort((a, b) => a - b).map(hex2), values: {} };
    const all = new Set<number>();
    for (const s of supported.values()) for (const p of s) if (!isBitmapPid(p) && pidDef(p)) all.add(p);
    for (const pid of [...all].sort((a, b) => a - b)) {
      const a = await t.request(Uint8Array.of(0x01, pid));
      for (const m of a.messages) {
        const k = m.ecu ?? 'ECU';
        const objs = decodeEcuMessages({ service: 1, pids: [pid], bytes: Uint8Array.of(1, pid) }, [{ ecu: m.ecu, data: m.data }]);
        const o = objs[0] as Record<string, unknown> | undefined;
        if (o && ecus[k] && !('error' in o)) ecus[k].values[hex2(pid)] = 'value' in o ? { value: o.value, unit: o.unit ?? '', name: o.name } : o;
      }
    }
    const vinAnswer = await t.request(Uint8Array.of(0x09, 0x02));
    const vin = decodeVin(vinAnswer.messages.map((m) => m.data)) ?? null;
    const dtcs: Record<string, string[]> = {};
    for (const [name, svc] of [['stored', 0x03], ['pending', 0x07], ['permanent', 0x0a]] as const) {
      const a = await t.request(Uint8Array.of(svc));
      const codes: string[] = [];
      for (const m of a.messages) if (m.data[0] === svc + 0x40) for (const c of decodeDtcs(m.data)) if (!codes.includes(c)) codes.push(c);
      dtcs[name] = codes;
    }
    return { link, ecus, vin, dtcs };
  } finally {
    await t.close();
  }
}

function readResponse(arg: string | undefined): string {
  if (arg === undefined || arg === '-') return readFileSync(0, 'utf8');
  // Let people paste what the adapter printed with literal escapes: "7E8 03 41 0D 32\r\r>".
  return arg.replace(/\\r/g, '\r').replace(/\\n/g, '\n');
}

export function register(program: Command): void {
  const obd = program.command('obd').description('OBD-II tools: decode adapter responses, list PIDs, run an ELM327 simulator');

  obd
    .command('decode')
    .description('decode a pasted ELM327 response to JSON (one object per line)')
    .argument('<request>', 'the request as sent, e.g. 010C, "01 0D", 03, 0902')
    .argument('[response]', 'what the adapter printed (any header/space setting; \\r and a trailing > allowed); - or absent: stdin')
    .addOption(
      new Option('--framing <kind>', 'how the adapter framed the reply').choices(['auto', 'can11', 'can29', 'legacy', 'none']).default('auto'),
    )
    .addHelpText(
      'after',
      `
Examples:
  edgewise obd decode 010C "7E8 04 41 0C 1A F8"      {"pid":"0C","name":"Engine speed","value":1726,"unit":"rpm"}
  edgewise obd decode 03 "43 02 01 33 01 71"         {"dtcs":["P0133","P0171"]}
  edgewise obd decode 0902 "$(cat vin.txt)"          {"value":"WP0ZZZ99ZTS390000"}
  edgewise obd decode 0100 "NO DATA"                 {"error":"NO_DATA"}`,
    )
    .action((request: string, response: string | undefined, opts: { framing: ElmFraming }) => {
      const objs = decodeAdapterResponse(request, readResponse(response), opts.framing);
      for (const o of objs) process.stdout.write(`${JSON.stringify(o)}\n`);
    });

  obd
    .command('scan')
    .description('connect to an adapter (or a CAN interface), read supported PIDs and their values, VIN and DTCs once; print JSON')
    .argument('[port]', 'ELM327: serial device (/dev/ttyUSB0, /dev/rfcomm0) or tcp://host:port')
    .option('--can <iface>', 'OBD over ISO-TP on this SocketCAN interface instead of an ELM327')
    .option('--baud <rate>', 'serial speed', '38400')
    .option('--p2 <ms>', 'ISO-TP: how long to wait for ECU answers', '150')
    .action(async (port: string | undefined, opts: { can?: string; baud: string; p2: string }) => {
      const p2Ms = Number(opts.p2);
      if (!Number.isInteger(p2Ms) || p2Ms < 10 || p2Ms > 10000) throw new EdgewiseError('USAGE', '--p2 must be 10..10000 ms');
      if ((port === undefined) === (opts.can === undefined)) throw new EdgewiseError('USAGE', 'give an adapter port or --can <iface>');
      const iface = opts.can;
      const t: ObdTransport =
        iface !== undefined
          ? new IsoTpTransport({ iface, openPort: () => openSocketCanPort(iface), p2Ms })
          : new ElmTransport({ address: port!, baudRate: Number(opts.baud) });
      process.stdout.write(`${JSON.stringify(await scan(t), null, 2)}\n`);
    });

  obd
    .command('pids')
    .description('list the service 01 PIDs edgewise decodes (hex, bytes, unit, name)')
    .option('--json', 'JSON lines instead of a table')
    .action((opts: { json?: boolean }) => {
      for (const d of PIDS) {
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ pid: d.hex, name: d.name, bytes: d.bytes, unit: d.unit, kind: d.kind })}\n`);
        } else {
          process.stdout.write(`${d.hex}  ${String(d.bytes)}B  ${(d.unit || '-').padEnd(5)}  ${d.name}\n`);
        }
      }
    });

  obd
    .command('simulate')
    .description('run an ELM327 simulator (driven by a table of ECUs, PIDs, DTCs, VIN) on a pty or a TCP port')
    .option('--pty <path>', 'create a pty pair with socat and link the adapter side to <path> (like /dev/ttyUSB0)')
    .option('--tcp <port>', 'listen on 127.0.0.1:<port> like a Wi-Fi adapter (0 = any free port)')
    .option('--host <host>', 'TCP listen address', '127.0.0.1')
    .option('--table <file>', 'JSON table of ECUs/PIDs/DTCs/VIN (default: a built-in demo car)')
    .addHelpText(
      'after',
      `
Table (JSON):
  { "protocol": 6, "ecus": [ { "id": "7E8", "pids": { "0C": { "value": [800, 2400] }, "0D": "32" },
                               "dtcs": { "stored": ["P0133"], "pending": [], "permanent": [] },
                               "vin": "WP0ZZZ99ZTS390000" } ] }
  PID values: hex data bytes ("1AF8"), a physical value ({"value": 1726}) or a list cycled per request.
  Also: "pad": true (pad CAN frames to 8 bytes), "voltage": "12.6V", "searchMs": 20,
  "faults": {"0105": "CAN ERROR", "0111": "SILENT"}, "refuse": ["ATS0"], "searchFails": true.`,
    )
    .action(async (opts: { pty?: string; tcp?: string; host: string; table?: string }) => {
      if ((opts.pty === undefined) === (opts.tcp === undefined)) throw new EdgewiseError('USAGE', 'give exactly one of --pty <path> or --tcp <port>');
      let table = DEMO_SIM_TABLE;
      if (opts.table !== undefined) {
        let text: string;
        try {
          text = readFileSync(opts.table, 'utf8');
        } catch (e) {
          throw new EdgewiseError('IO', `cannot read ${opts.table}: ${(e as Error).message}`, { file: opts.table });
        }
        table = parseSimTable(text, opts.table);
      }
      const port = opts.tcp !== undefined ? Number(opts.tcp) : undefined;
      if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new EdgewiseError('USAGE', `--tcp: "${opts.tcp}" is not a port`);
      const sim = await startElmSimulator({ table, pty: opts.pty, tcpPort: port, host: opts.host });
      process.stderr.write(`edgewise: ELM327 simulator on ${sim.address} (Ctrl-C to stop)\n`);
      process.stdout.write(`${sim.address}\n`);
      await new Promise<void>((resolve) => {
        const done = (): void => resolve();
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await sim.stop();
    });
}
