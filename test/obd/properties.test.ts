import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  IsoTpChannel,
  VirtualCanBus,
  Elm327Session,
  parseSimTable,
  decodeAdapterResponse,
  PIDS,
  hex2,
} from '../../src/obd/index.js';

describe('ISO-TP round trip (property)', () => {
  it('delivers any payload intact for any block size and padding', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 700 }),
        fc.integer({ min: 0, max: 8 }),
        fc.boolean(),
        async (payload, blockSize, pad) => {
          const bus = new VirtualCanBus();
          const pa = bus.port();
          const pb = bus.port();
          const got: Uint8Array[] = [];
          const a = new IsoTpChannel(pa, { txId: 0x7e0, rxId: 0x7e8, extended: false, padding: pad ? 0x55 : null }, { message: () => undefined });
          const b = new IsoTpChannel(pb, { txId: 0x7e8, rxId: 0x7e0, extended: false, blockSize }, { message: (d) => got.push(d) });
          try {
            await a.send(payload);
            for (let i = 0; i < 20 && got.length === 0; i++) await new Promise((r) => setImmediate(r));
            expect(got).toHaveLength(1);
            expect(Buffer.from(got[0]).equals(Buffer.from(payload))).toBe(true);
          } finally {
            a.close();
            b.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('ELM327 text round trip (property)', () => {
  const linear = PIDS.filter((d) => d.kind === 'linear');
  it('decodes what the simulator prints for any PID value in any adapter setting', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...linear),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.record({ e: fc.boolean(), l: fc.boolean(), s: fc.boolean(), h: fc.boolean(), pad: fc.boolean(), p29: fc.boolean() }),
        async (def, raw, o) => {
          const data = raw.subarray(0, def.bytes);
          const table = parseSimTable({
            protocol: o.p29 ? 7 : 6,
            pad: o.pad,
            searchMs: 0,
            ecus: [{ pids: { [def.hex]: Array.from(data, hex2).join('') } }],
          });
          const sess = new Elm327Session(table);
          for (const c of [`ATE${+o.e}`, `ATL${+o.l}`, `ATS${+o.s}`, `ATH${+o.h}`]) await sess.command(c);
          const text = (await sess.command(`01${def.hex}`))!;
          const out = decodeAdapterResponse(`01${def.hex}`, text);
          expect(out).toHaveLength(1);
          expect(out[0]).toMatchObject({ pid: def.hex, unit: def.unit });
          expect(out[0].value as number).toBeCloseTo(def.decode(data, 0) as number, 9);
        },
      ),
      { numRuns: 300 },
    );
  });
});
