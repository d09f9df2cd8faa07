/** The daemon config entry of a SocketCAN source (part of `sources:` in the config file). */
import * as z from 'zod';

const ifaceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be a network interface name such as can0');

export const socketcanSourceSchema = z
  .strictObject({
    type: z.literal('socketcan'),
    /** The interface to read, e.g. `can0` (`vcan0` on a bench). Give this or `interfaces`. */
    interface: ifaceName.optional(),
    /** Several interfaces in one source, e.g. `[can0, can1]`. */
    interfaces: z.array(ifaceName).min(1, 'needs at least one interface').optional(),
    /**
     * Interface rename, e.g. `{ vcan0: can0 }`: frames read on `vcan0` are decoded with the
     * manifest's DBC for `can0`. Default: none.
     */
    map: z.record(z.string(), z.string()).default({}),
    /** Also receive CAN FD frames. Default true. */
    fd: z.boolean().default(true),
    /**
     * Socket receive buffer per interface, bytes: how many frames the kernel can hold while the
     * agent is busy. The kernel doubles the request and charges ~768 bytes per frame: 8 MiB holds
     * ~21,000 frames, ~5 s of a busy 4,000 frames/s bus. 0 = kernel default (~280 frames).
     * Capped by net.core.rmem_max unless the agent has CAP_NET_ADMIN. Default 8388608.
     */
    receiveBufferBytes: z.number().int().min(0).max(1024 * 1024 * 1024).default(8 * 1024 * 1024),
    /** Receive and count CAN error frames (bus-off is detected from them). Default true. */
    errorFrames: z.boolean().default(true),
    /** How often a down interface is checked for recovery, ms. Default 1000. */
    checkIntervalMs: z.number().int().min(50).max(60_000).default(1000),
  })
  .superRefine((v, ctx) => {
    const list = [...(v.interface !== undefined ? [v.interface] : []), ...(v.interfaces ?? [])];
    if (list.length === 0) ctx.addIssue({ code: 'custom', path: ['interface'], message: 'name the interface to read (interface: can0)' });
    if (new Set(list).size !== list.length) ctx.addIssue({ code: 'custom', path: ['interfaces'], message: 'lists an interface twice' });
  });

/** The interfaces a socketcan source entry names (`interface` first, then `interfaces`). */
export function socketcanInterfaces(sc: { interface?: string; interfaces?: string[] }): string[] {
  return [...(sc.interface !== undefined ? [sc.interface] : []), ...(sc.interfaces ?? [])];
}

export type SocketcanSourceConfig = z.output<typeof socketcanSourceSchema>;
