/**
 * Builds the daemon's sources from their config entries. Frame sources feed the manifest's CAN
 * routes; signal sources (OBD-II) deliver manifest signals directly.
 */
import { EdgewiseError } from '../errors.js';
import type { Manifest } from '../campaigns/index.js';
import { LogSource, type FrameSource, type SignalSource } from '../sources/index.js';
import type { SourceConfig } from './config.js';
import type { Logger } from './logger.js';

export interface SourceContext {
  manifest: Manifest;
  log: Logger;
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
    default:
      throw new EdgewiseError('CONFIG_INVALID', `source type "${(sc as { type: string }).type}" is not supported by this build`);
  }
}
