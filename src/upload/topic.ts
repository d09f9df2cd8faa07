/** MQTT topic helpers. */
import { EdgewiseError } from '../errors.js';

/** True when `topic` matches the subscription `filter` (`+` one level, `#` the rest; `$` topics only match explicitly). */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const part = f[i];
    if (part === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (part !== '+' && part !== t[i]) return false;
  }
  return f.length === t.length;
}

/** A problem description when `topic` cannot be published to (wildcards, empty levels at start, too long). */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'topic is empty';
  if (/[+#]/.test(topic)) return 'a topic to publish to may not contain + or #';
  if (topic.includes('\u0000')) return 'topic contains NUL';
  if (Buffer.byteLength(topic) > 65535) return 'topic longer than 65535 bytes';
  return undefined;
}

const PLACEHOLDER = /\{(thing|campaign|partition|priority|seq)\}/g;

/**
 * Compile a topic template such as `edgewise/{thing}/batches/{campaign}` or the IoT Core Basic Ingest
 * form `$aws/rules/edgewise_ingest/{thing}/{campaign}/{partition}`. Placeholders: {thing},
 * {campaign}, {partition}, {priority}, {seq}. Values are sanitized (`/ + #` and NUL become `_`) so a
 * campaign name cannot add topic levels or wildcards.
 */
export function compileTopicTemplate(
  template: string,
  thing: string,
): (b: { campaign: string; partitionId: string; priority: number; seq: number }) => string {
  const unknown = template.match(/\{[^}]*\}/g)?.filter((p) => !/^\{(thing|campaign|partition|priority|seq)\}$/.test(p));
  if (unknown && unknown.length > 0) {
    throw new EdgewiseError(
      'CONFIG_INVALID',
      `unknown placeholder ${unknown[0]} in topic template ${JSON.stringify(template)} (use {thing} {campaign} {partition} {priority} {seq})`,
      { template },
    );
  }
  const clean = (s: string): string => s.replace(/[/+#\u0000]/g, '_');
  const thingClean = clean(thing);
  return (b) =>
    template.replace(PLACEHOLDER, (_m, name: string) => {
      switch (name) {
        case 'thing':
          return thingClean;
        case 'campaign':
          return clean(b.campaign);
        case 'partition':
          return clean(b.partitionId);
        case 'priority':
          return String(b.priority);
        default:
          return String(b.seq);
      }
    });
}

/** Default batch topic template. */
export const DEFAULT_BATCH_TOPIC = 'edgewise/{thing}/batches/{campaign}';
/** Default status (online/offline, retained) topic template. */
export const DEFAULT_STATUS_TOPIC = 'edgewise/{thing}/status';
