import { describe, expect, it } from 'vitest';
import { backoffDelay, classifyFailure, compileTopicTemplate, TokenBucket, topicMatches } from '../../src/upload/index.js';

describe('topic filters', () => {
  it('matches + and # like an MQTT broker, and keeps $ topics away from leading wildcards', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/d')).toBe(false);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('#', '$aws/things/x/shadow/get/accepted')).toBe(false);
    expect(topicMatches('$aws/things/x/shadow/+/accepted', '$aws/things/x/shadow/get/accepted')).toBe(true);
  });

  it('fills topic templates and keeps campaign names from adding levels or wildcards', () => {
    const t = compileTopicTemplate('$aws/rules/r/{thing}/{campaign}/{partition}/{priority}/{seq}', 'car-1');
    expect(t({ campaign: 'a/b+#', partitionId: 'p', priority: 2, seq: 7 })).toBe('$aws/rules/r/car-1/a_b__/p/2/7');
    expect(() => compileTopicTemplate('edgewise/{vin}', 'car')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('pacing and backoff', () => {
  it('token bucket serves a burst, then makes reservations wait in order at the configured rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 2, () => now);
    expect(b.reserve(1)).toBe(0);
    expect(b.reserve(1)).toBe(0);
    expect(b.reserve(1)).toBeCloseTo(100);
    expect(b.reserve(1)).toBeCloseTo(200);
    now = 1000; // 10 tokens refilled, capped at capacity 2 after paying the 2 reserved
    expect(b.reserve(1)).toBe(0);
    expect(new TokenBucket(0, 1).reserve(1e9)).toBe(0); // 0 = unpaced
  });

  it('backoff grows exponentially within [min, max]', () => {
    expect(backoffDelay(0, 250, 1000, () => 1)).toBe(250);
    expect(backoffDelay(1, 250, 1000, () => 1)).toBe(500);
    expect(backoffDelay(5, 250, 1000, () => 1)).toBe(1000);
    expect(backoffDelay(5, 250, 1000, () => 0)).toBe(250);
  });

  it('classifies failures into network, TLS and authorization with a usable reason', () => {
    expect(classifyFailure({ error_name: 'AWS_IO_SOCKET_CONNECTION_REFUSED' }).kind).toBe('network');
    expect(classifyFailure({ error_name: 'AWS_IO_DNS_QUERY_FAILED' }).kind).toBe('network');
    const tls = classifyFailure({ error_name: 'AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE' });
    expect(tls.kind).toBe('tls');
    expect(tls.reason).toMatch(/CA file/);
    const auth = classifyFailure({ error_name: 'AWS_ERROR_MQTT5_CONNACK_CONNECTION_REFUSED' }, 135);
    expect(auth.kind).toBe('auth');
    expect(auth.code).toBe('CONNACK_NotAuthorized');
  });
});
