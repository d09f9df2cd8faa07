/**
 * AWS IoT commands topics for a thing:
 *   request:  $aws/commands/things/<thing>/executions/<executionId>/request[/<payload format>]
 *   response: $aws/commands/things/<thing>/executions/<executionId>/response[/<payload format>]
 * The device subscribes with a wildcard on the execution id and the format; it answers on the
 * response topic with the same format suffix as the request (json for JSON, none otherwise).
 */
export function requestFilter(thing: string): string {
  return `$aws/commands/things/${thing}/executions/+/request/#`;
}

/** The bare request topic (no format suffix) is matched by this second filter. */
export function requestFilterBare(thing: string): string {
  return `$aws/commands/things/${thing}/executions/+/request`;
}

export interface ParsedRequestTopic {
  executionId: string;
  /** Payload format suffix (`json`, `cbor`, ...) or '' when the topic has none. */
  format: string;
}

export function parseRequestTopic(thing: string, topic: string): ParsedRequestTopic | undefined {
  const prefix = `$aws/commands/things/${thing}/executions/`;
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length).split('/');
  if (rest.length < 2 || rest.length > 3 || rest[1] !== 'request' || rest[0] === '') return undefined;
  return { executionId: rest[0]!, format: rest[2] ?? '' };
}

export function responseTopic(thing: string, executionId: string, format: string): string {
  // The JSON answer goes to .../response/json; other formats answer in JSON as well (the response
  // payload is always the JSON document), so anything but a bare request gets the json suffix.
  const base = `$aws/commands/things/${thing}/executions/${executionId}/response`;
  return format === '' ? base : `${base}/json`;
}
