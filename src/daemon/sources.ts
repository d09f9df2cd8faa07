/**
 * Builds the daemon's sources from their config entries. Frame sources feed the manifest's CAN
 * routes; signal sources (OBD-II) deliver manifest signals directly.
 */
import { EdgewiseError } from '../errors.js';
import type { Manifest } from '../manifest/index.js';
import { LogSource, type FrameSource, type SignalSource } from '../sources/index.js';
import type { SourceConfig } from './config.js';
import type { Logger } from './logger.js';
import { ObdSource } from '../obd/index.js';
import { SocketCanSource, logSocketCanEvents } from '../can/index.js';
import { socketcanInterfaces } from '../can/index.js';

export interface SourceContext {
  manifest: Manifest;
  log: Logger;
  /** OBD: poll a signal only while some campaign wants it (e.g. `engine.isWanted`). Default: all. */
  wanted?: (signalId: number) => boolean;
  /** OBD: poll DTCs only while some active campaign has `diagnosticsMode: SEND_ACTIVE_DTCS`. Default: per config. */
  dtcsWanted?: () => boolean;
}

export type BuiltSource = { kind: 'frames'; source: FrameSource } | { kind: 'signals'; source: SignalSource };

export function createSource(sc: SourceConfig, ctx: SourceContext): BuiltSource {
  switch (sc.type) {
    case 'log':
      return {
        kind: 'frames',
        source: new LogSource({
          path: sc.path,
          map: sc.map,
          speed: sc.speed,
          loop: sc.loop,
          rebaseTime: sc.rebaseTime,
          onBadLine: (line, _text, reason) => ctx.log.warn({ file: sc.path, line, reason }, 'bad log line skipped'),
        }),
      };
    case 'obd':
      return {
        kind: 'signals',
        source: new ObdSource({
          config: sc,
          manifest: ctx.manifest,
          log: ctx.log.child({ source: sc.name }),
          wanted: ctx.wanted,
          dtcsWanted: ctx.dtcsWanted,
        }),
      };
    case 'socketcan':
      return {
        kind: 'frames',
        source: new SocketCanSource({ ...sc, interfaces: socketcanInterfaces(sc), onEvent: logSocketCanEvents(ctx.log.child({ source: 'socketcan' })) }),
      };
    default:
      throw new EdgewiseError('CONFIG_INVALID', `source type "${(sc as { type: string }).type}" is not supported by this build`);
  }
}
