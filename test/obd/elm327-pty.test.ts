/**
 * The real serial code path: `serialport` on a pty whose other end is the ELM327 simulator
 * (bridged by socat). Unplugging = socat exits and the pty disappears.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ElmTransport, ObdPoller, startElmSimulator, parseSimTable, decodeAdapterResponse, type ElmSimulator } from '../../src/obd/index.js';
import type { SignalValue } from '../../src/types.js';

const HAS_SOCAT = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
let HAS_SERIALPORT = true;
try {
  const pkg = 'serialport';
  await import(pkg);
} catch {
  HAS_SERIALPORT = false;
}
if (!HAS_SOCAT) console.warn('skipping ELM327 pty tests: socat is not installed (apt-get install socat)');
if (!HAS_SERIALPORT) console.warn('skipping ELM327 pty tests: the serialport package is not installed');

const TABLE = {
  searchMs: 5,
  ecus: [{ id: '7E8', pids: { '0C': '1AF8', '0D': '32' }, vin: 'WP0ZZZ99ZTS390000', dtcs: { stored: ['P0133'] } }],
};

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function ptySim(): Promise<{ sim: ElmSimulator; link: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-pty-'));
  const link = path.join(dir, 'elm327');
  const sim = await startElmSimulator({ table: parseSimTable(TABLE), pty: link });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }), () => sim.stop());
  return { sim, link };
}

async function until(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!HAS_SOCAT || !HAS_SERIALPORT)('ELM327 over a serial port (pty)', () => {
  it('initialises, reads PIDs, the multi-frame VIN and DTCs through serialport', async () => {
    const { link } = await ptySim();
    expect(existsSync(link)).toBe(true);
    const t = new ElmTransport({ address: link, commandTimeoutMs: 1000 });
    cleanup.push(() => t.close());
    const info = await t.open();
    expect(info).toMatchObject({ address: link, adapter: 'ELM327 v1.5', protocol: 6, voltage: 12.6 });
    const rpm = await t.request(Uint8Array.of(0x01, 0x0c));
    expect(rpm.messages).toEqual([{ ecu: '7E8', data: Uint8Array.of(0x41, 0x0c, 0x1a, 0xf8) }]);
    const vin = await t.request(Uint8Array.of(0x09, 0x02));
    expect(Buffer.from(vin.messages[0].data.subarray(3)).toString('latin1')).toBe('WP0ZZZ99ZTS390000');
    const dtc = await t.request(Uint8Array.of(0x03));
    expect(Array.from(dtc.messages[0].data)).toEqual([0x43, 0x01, 0x01, 0x33]);
    expect(await t.request(Uint8Array.of(0x01, 0x2f))).toEqual({ messages: [], error: 'NO_DATA' });
  });

  it('reads what the adapter prints with headers off and spaces on', async () => {
    const { link } = await ptySim();
    const { openElmStream, Elm327 } = await import('../../src/obd/index.js');
    const elm = new Elm327(await openElmStream(link));
    cleanup.push(() => elm.close());
    expect(await elm.command('ATZ')).toContain('ELM327 v1.5');
    await elm.command('ATE0');
    const text = await elm.command('0902');
    expect(text).toBe('SEARCHING...\r014\r0: 49 02 01 57 50 30\r1: 5A 5A 5A 39 39 5A 54\r2: 53 33 39 30 30 30 30\r\r');
    expect(decodeAdapterResponse('0902', text)).toEqual([{ value: 'WP0ZZZ99ZTS390000' }]);
  });

  it('goes down when the adapter is unplugged and recovers when it is plugged in again', async () => {
    const { sim } = await ptySim();
    const link = sim.address;
    const samples: SignalValue[] = [];
    const poller = new ObdPoller({
      transport: new ElmTransport({ address: link, commandTimeoutMs: 300 }),
      signals: [{ id: 0, name: 'Vehicle.OBD.EngineSpeed', type: 'float64', service: 1, pid: 0x0c }],
      intervalMs: 20,
      dtcs: { enabled: false, intervalMs: 1000, services: [3] },
      reconnect: { minMs: 20, maxMs: 100 },
    });
    poller.start({ sample: (_id, _t, v) => samples.push(v), dtcs: () => undefined });
    cleanup.push(() => poller.stop());
    await until(() => samples.length >= 3, 'samples');
    await sim.unplug();
    await until(() => poller.currentState === 'down', 'state down');
    const before = samples.length;
    await sim.replug();
    await until(() => poller.currentState === 'open' && samples.length > before + 2, 'recovery');
    expect(poller.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(new Set(samples)).toEqual(new Set([1726]));
    // detected by serialport closing (not by request timeouts), then reopen attempts while the pty is gone
    expect(poller.recentErrors[0]).toMatch(/ELM327 connection lost/);
  });
});
