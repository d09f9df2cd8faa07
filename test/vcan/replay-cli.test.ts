/**
 * The parts of SocketCAN support that run without a CAN kernel: `edgewise replay` argument
 * handling and errors, and the socketcan source's config schema. The bus itself is tested in
 * vcan.test.ts (guest kernel).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMap, parseSpeed } from '../../src/cli/commands/replay.js';
import { parseConfig } from '../../src/daemon/config.js';
import { isEdgewiseError } from '../../src/errors.js';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli/main.js');

function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT }, (e, out, err) => {
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err });
    });
  });
}

const base = { vehicle: { name: 'v1' }, manifest: 'm.yaml' };

describe('edgewise replay arguments', () => {
  it('parses --map pairs and --speed values', () => {
    expect(parseMap('can0=vcan0, can1=vcan1')).toEqual({ can0: 'vcan0', can1: 'vcan1' });
    expect(parseMap(undefined)).toEqual({});
    expect(() => parseMap('can0:vcan0')).toThrow(/logIface=busIface/);
    expect(parseSpeed('max')).toBe('max');
    expect(parseSpeed('1.5')).toBe(1.5);
    for (const bad of ['0', '-1', 'fast', '']) expect(() => parseSpeed(bad), bad).toThrow(/--speed/);
  });

  it('rejects bad arguments with exit status 2 before touching a bus', async () => {
    const speed = await cli('replay', 'examples/drive.log.gz', '--iface', 'vcan0', '--speed', 'warp');
    expect(speed.code).toBe(2);
    expect(speed.err).toContain('--speed must be a positive number or "max"');
    const map = await cli('replay', 'examples/drive.log.gz', '--map', 'can0');
    expect(map.code).toBe(2);
    expect(map.err).toContain('--map: expected logIface=busIface');
  });

  it('fails with a clear error when the interface cannot be opened', async () => {
    const r = await cli('replay', 'examples/drive.log.gz', '--iface', 'nosuchcan9', '--no-progress');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nosuchcan9/);
    expect(r.out).toBe('');
  });

  it('documents its options', async () => {
    const r = await cli('replay', '--help');
    expect(r.code).toBe(0);
    for (const o of ['--iface', '--map', '--speed', '--loop', '--limit', '--json']) expect(r.out).toContain(o);
  });
});

describe('socketcan source config', () => {
  it('accepts one interface or several and fills the defaults', () => {
    const one = parseConfig({ ...base, sources: [{ type: 'socketcan', interface: 'can0' }] }, 'c.yaml', '/etc/edgewise');
    expect(one.sources[0]).toEqual({
      type: 'socketcan',
      interface: 'can0',
      map: {},
      fd: true,
      receiveBufferBytes: 8 * 1024 * 1024,
      errorFrames: true,
      checkIntervalMs: 1000,
    });
    const many = parseConfig(
      { ...base, sources: [{ type: 'socketcan', interfaces: ['can0', 'can1'], fd: false, map: { vcan0: 'can0' } }] },
      'c.yaml',
      '/etc/edgewise',
    );
    expect(many.sources[0]).toMatchObject({ interfaces: ['can0', 'can1'], fd: false, map: { vcan0: 'can0' } });
  });

  it('names the problem when the interface is missing, repeated or not a name', () => {
    const bad = (src: Record<string, unknown>): string => {
      try {
        parseConfig({ ...base, sources: [{ type: 'socketcan', ...src }] }, 'c.yaml', '/');
      } catch (e) {
        expect(isEdgewiseError(e, 'CONFIG_INVALID')).toBe(true);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad({})).toContain('sources[0].interface: name the interface to read');
    expect(bad({ interface: 'can0', interfaces: ['can0'] })).toContain('lists an interface twice');
    expect(bad({ interface: 'can 0' })).toContain('must be a network interface name');
    expect(bad({ interface: 'can0', receiveBufferBytes: -1 })).toContain('receiveBufferBytes');
  });
});
