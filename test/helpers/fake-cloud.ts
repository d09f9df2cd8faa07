/**
 * A fake AWS IoT Jobs + Device Shadow service for tests, speaking the documented device MQTT
 * protocol over the REAL broker (mosquitto with mTLS, see broker.ts) as the superuser `observer`:
 *
 * Jobs ($aws/things/<thing>/jobs/...): start-next, get, <jobId>/get (incl. $next), <jobId>/update
 *   with accepted/rejected + echoed clientToken, versionNumber bookkeeping, expectedVersion ->
 *   VersionMismatch (+executionState), InvalidStateTransition, TerminalStateReached,
 *   ResourceNotFound, notify (JobExecutionsChanged) and notify-next (NextJobExecutionChanged).
 * Shadow (classic and named): get/update with accepted/rejected, version bookkeeping (409 on a
 *   version conflict), merge rules (null deletes, arrays replaced), delta computed and published,
 *   update/documents, 404 for a missing shadow, 413 above 8 KB.
 *
 * Unlike IoT Core, mosquitto only delivers responses to subscribers; the SDK's v2 clients always
 * subscribe to the response topics first, so that is fine.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { OBSERVER, type TestBroker } from './broker.js';

export type JobStatus = 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'REJECTED' | 'REMOVED' | 'CANCELED';
const TERMINAL: JobStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'];
const DEVICE_SETTABLE: JobStatus[] = ['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED'];

export interface FakeJob {
  jobId: string;
  thingName: string;
  jobDocument: unknown;
  status: JobStatus;
  statusDetails: Record<string, string>;
  versionNumber: number;
  executionNumber: number;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  stepTimeoutInMinutes?: number;
  /** Every accepted status change, in order. */
  history: { status: JobStatus; statusDetails: Record<string, string>; versionNumber: number; stepTimeoutInMinutes?: number }[];
}

export interface FakeShadow {
  state: { desired?: Record<string, unknown>; reported?: Record<string, unknown> };
  version: number;
}

export interface LoggedRequest {
  topic: string;
  request: Record<string, unknown>;
  result: 'accepted' | 'rejected' | 'event';
  code?: string | number;
}

export interface FakeCloud {
  createJob(thing: string, jobId: string, document: unknown): FakeJob;
  /** Service-side cancel (CANCELED), as `aws iot cancel-job` does. */
  cancelJob(thing: string, jobId: string): void;
  /** Someone else updated the execution (bumps versionNumber): the device's next expectedVersion mismatches. */
  bumpJobVersion(thing: string, jobId: string): void;
  job(thing: string, jobId: string): FakeJob | undefined;
  waitForJob(thing: string, jobId: string, pred: (j: FakeJob) => boolean, timeoutMs?: number): Promise<FakeJob>;
  /** Publish notify-next again for the current next job (a duplicate delivery). */
  renotifyNext(thing: string): void;
  shadow(thing: string, name?: string): FakeShadow | undefined;
  /** Update desired as an application would; returns the new version. */
  setDesired(thing: string, desired: Record<string, unknown> | null, name?: string): number;
  /** Publish a raw delta document (e.g. a stale, re-ordered one). */
  publishDelta(thing: string, state: Record<string, unknown>, version: number, name?: string): void;
  waitForShadow(thing: string, pred: (s: FakeShadow) => boolean, opts?: { name?: string; timeoutMs?: number }): Promise<FakeShadow>;
  readonly requests: LoggedRequest[];
  close(): Promise<void>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const epoch = (): number => Math.floor(Date.now() / 1000);

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

/** Shadow merge: objects merge, null deletes, arrays and values replace. */
function merge(target: Obj | undefined, patch: Obj): Obj {
  const out: Obj = { ...(target ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObj(v) && isObj(out[k])) out[k] = merge(out[k] as Obj, v);
    else if (isObj(v)) out[k] = merge({}, v);
    else out[k] = clone(v);
  }
  return out;
}

/** Desired keys whose value differs from reported (nested objects recurse). */
function delta(desired: Obj | undefined, reported: Obj | undefined): Obj | undefined {
  if (!desired) return undefined;
  const out: Obj = {};
  for (const [k, v] of Object.entries(desired)) {
    const r = reported?.[k];
    if (isObj(v) && isObj(r)) {
      const d = delta(v, r);
      if (d) out[k] = d;
    } else if (!deepEqual(v, r)) out[k] = clone(v);
  }
  return Object.keys(out).length ? out : undefined;
}

function depth(v: unknown): number {
  return isObj(v) ? 1 + Math.max(0, ...Object.values(v).map(depth)) : 0;
}

function metadataFor(v: unknown, ts: number): unknown {
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, metadataFor(x, ts)]));
  return { timestamp: ts };
}

export async function startFakeCloud(broker: TestBroker): Promise<FakeCloud> {
  const id = broker.certFor(OBSERVER);
  const client: MqttClient = mqtt.connect({
    protocol: 'mqtts',
    host: 'localhost',
    port: broker.port,
    ca: readFileSync(broker.caFile),
    cert: readFileSync(id.cert),
    key: readFileSync(id.key),
    clientId: `fake-cloud-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    protocolVersion: 5,
    reconnectPeriod: 200,
    connectTimeout: 5000,
  });
  client.on('error', () => undefined);
  const filters = [
    '$aws/things/+/jobs/start-next',
    '$aws/things/+/jobs/get',
    '$aws/things/+/jobs/+/get',
    '$aws/things/+/jobs/+/update',
    '$aws/things/+/shadow/get',
    '$aws/things/+/shadow/update',
    '$aws/things/+/shadow/name/+/get',
    '$aws/things/+/shadow/name/+/update',
  ];
  const subscribeAll = (): Promise<void> =>
    new Promise((resolve, reject) => {
      client.subscribe(
        filters.map((f) => f),
        { qos: 1, nl: true },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`fake cloud cannot connect: ${broker.log()}`)), 10_000);
    client.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
  });
  await subscribeAll();
  // after a broker restart (no persistence) subscriptions are gone: renew them
  client.on('connect', () => void subscribeAll().catch(() => undefined));

  const jobs = new Map<string, FakeJob[]>(); // per thing, creation order
  const shadows = new Map<string, FakeShadow>(); // `${thing}|${name ?? ''}`
  const requests: LoggedRequest[] = [];
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };

  const publish = (topic: string, payload: unknown): void => {
    client.publish(topic, JSON.stringify(payload), { qos: 1 });
  };

  const thingJobs = (thing: string): FakeJob[] => {
    let l = jobs.get(thing);
    if (!l) jobs.set(thing, (l = []));
    return l;
  };
  const nextJob = (thing: string): FakeJob | undefined => {
    const l = thingJobs(thing);
    return l.find((j) => j.status === 'IN_PROGRESS') ?? l.find((j) => j.status === 'QUEUED');
  };
  const execution = (j: FakeJob, withDoc = true): Obj => ({
    jobId: j.jobId,
    thingName: j.thingName,
    ...(withDoc ? { jobDocument: clone(j.jobDocument) } : {}),
    status: j.status,
    statusDetails: clone(j.statusDetails),
    queuedAt: j.queuedAt,
    ...(j.startedAt !== undefined ? { startedAt: j.startedAt } : {}),
    lastUpdatedAt: j.lastUpdatedAt,
    versionNumber: j.versionNumber,
    executionNumber: j.executionNumber,
  });
  const summary = (j: FakeJob): Obj => ({
    jobId: j.jobId,
    queuedAt: j.queuedAt,
    ...(j.startedAt !== undefined ? { startedAt: j.startedAt } : {}),
    lastUpdatedAt: j.lastUpdatedAt,
    versionNumber: j.versionNumber,
    executionNumber: j.executionNumber,
  });
  const execState = (j: FakeJob): Obj => ({ status: j.status, statusDetails: clone(j.statusDetails), versionNumber: j.versionNumber });

  /** Publish notify (always) and notify-next (when the next job changed). */
  const afterChange = (thing: string, prevNext: string | undefined): void => {
    const l = thingJobs(thing);
    const inProgress = l.filter((j) => j.status === 'IN_PROGRESS').map(summary);
    const queued = l.filter((j) => j.status === 'QUEUED').map(summary);
    const lists: Obj = {};
    if (inProgress.length) lists.IN_PROGRESS = inProgress;
    if (queued.length) lists.QUEUED = queued;
    publish(`$aws/things/${thing}/jobs/notify`, { jobs: lists, timestamp: epoch() });
    const n = nextJob(thing);
    if (n?.jobId !== prevNext) {
      publish(`$aws/things/${thing}/jobs/notify-next`, n ? { execution: execution(n), timestamp: epoch() } : { timestamp: epoch() });
    }
    wake();
  };

  const setStatus = (j: FakeJob, status: JobStatus, details: Record<string, string> | undefined, step?: number): void => {
    j.status = status;
    if (details) j.statusDetails = clone(details);
    j.versionNumber++;
    j.lastUpdatedAt = epoch();
    if (status === 'IN_PROGRESS' && j.startedAt === undefined) j.startedAt = epoch();
    j.stepTimeoutInMinutes = step;
    j.history.push({ status, statusDetails: clone(j.statusDetails), versionNumber: j.versionNumber, stepTimeoutInMinutes: step });
  };

  const onJobs = (thing: string, rest: string[], req: Obj): void => {
    const base = `$aws/things/${thing}/jobs`;
    const token = req.clientToken !== undefined ? { clientToken: req.clientToken } : {};
    const reject = (topic: string, code: string, message: string, extra: Obj = {}): void => {
      requests.push({ topic, request: req, result: 'rejected', code });
      publish(`${topic}/rejected`, { code, message, timestamp: epoch(), ...token, ...extra });
      wake();
    };
    const accept = (topic: string, payload: Obj): void => {
      requests.push({ topic, request: req, result: 'accepted' });
      publish(`${topic}/accepted`, { ...payload, timestamp: epoch(), ...token });
      wake();
    };
    if (rest.length === 1 && rest[0] === 'start-next') {
      const topic = `${base}/start-next`;
      const prev = nextJob(thing)?.jobId;
      const j = nextJob(thing);
      if (!j) return accept(topic, {});
      if (j.status === 'QUEUED') {
        setStatus(j, 'IN_PROGRESS', isObj(req.statusDetails) ? (req.statusDetails as Record<string, string>) : undefined, req.stepTimeoutInMinutes as number | undefined);
        accept(topic, { execution: execution(j) });
        afterChange(thing, prev);
        return;
      }
      return accept(topic, { execution: execution(j) });
    }
    if (rest.length === 1 && rest[0] === 'get') {
      const l = thingJobs(thing);
      return accept(`${base}/get`, {
        inProgressJobs: l.filter((j) => j.status === 'IN_PROGRESS').map(summary),
        queuedJobs: l.filter((j) => j.status === 'QUEUED').map(summary),
      });
    }
    if (rest.length === 2 && rest[1] === 'get') {
      const topic = `${base}/${rest[0]}/get`;
      const j = rest[0] === '$next' ? nextJob(thing) : thingJobs(thing).find((x) => x.jobId === rest[0]);
      if (!j) {
        if (rest[0] === '$next') return accept(topic, {});
        return reject(topic, 'ResourceNotFound', `Job ${rest[0]} not found for thing ${thing}`);
      }
      if (TERMINAL.includes(j.status)) return reject(topic, 'TerminalStateReached', `Job ${j.jobId} is in terminal state ${j.status}`, { executionState: execState(j) });
      return accept(topic, { execution: execution(j, req.includeJobDocument !== false) });
    }
    if (rest.length === 2 && rest[1] === 'update') {
      const topic = `${base}/${rest[0]}/update`;
      const j = thingJobs(thing).find((x) => x.jobId === rest[0]);
      if (!j) return reject(topic, 'ResourceNotFound', `Job ${rest[0]} not found for thing ${thing}`);
      const status = req.status as JobStatus;
      if (!DEVICE_SETTABLE.includes(status)) return reject(topic, 'InvalidRequest', `status ${String(req.status)} cannot be set by a device`);
      if (req.statusDetails !== undefined) {
        const d = req.statusDetails;
        if (!isObj(d) || Object.keys(d).length > 10 || Object.entries(d).some(([k, v]) => typeof v !== 'string' || k.length > 128 || v.length > 128 || v.length < 1)) {
          return reject(topic, 'InvalidRequest', 'statusDetails must have at most 10 string pairs of 1..128 characters');
        }
      }
      if (typeof req.expectedVersion === 'number' && req.expectedVersion !== j.versionNumber) {
        return reject(topic, 'VersionMismatch', 'expectedVersion does not match', { executionState: execState(j) });
      }
      if (typeof req.executionNumber === 'number' && req.executionNumber !== j.executionNumber) {
        return reject(topic, 'InvalidRequest', 'executionNumber does not match');
      }
      if (TERMINAL.includes(j.status)) {
        return reject(topic, 'InvalidStateTransition', `Job ${j.jobId} is in terminal state ${j.status}`, { executionState: execState(j) });
      }
      const prev = nextJob(thing)?.jobId;
      setStatus(j, status, req.statusDetails as Record<string, string> | undefined, req.stepTimeoutInMinutes as number | undefined);
      accept(topic, {
        ...(req.includeJobExecutionState ? { executionState: execState(j) } : {}),
        ...(req.includeJobDocument ? { jobDocument: clone(j.jobDocument) } : {}),
      });
      if (TERMINAL.includes(status) || prev !== nextJob(thing)?.jobId) afterChange(thing, prev);
      return;
    }
    requests.push({ topic: `${base}/${rest.join('/')}`, request: req, result: 'rejected', code: 'InvalidTopic' });
  };

  const shadowKey = (thing: string, name?: string): string => `${thing}|${name ?? ''}`;

  const applyShadowUpdate = (thing: string, name: string | undefined, req: Obj, prefix: string, token: Obj, log = true): number | undefined => {
    const key = shadowKey(thing, name);
    const reject = (code: number, message: string): undefined => {
      if (log) requests.push({ topic: `${prefix}/update`, request: req, result: 'rejected', code });
      publish(`${prefix}/update/rejected`, { code, message, timestamp: epoch(), ...token });
      wake();
      return undefined;
    };
    const state = req.state;
    if (!isObj(state)) return reject(400, 'Missing required node: state');
    if (Buffer.byteLength(JSON.stringify({ desired: state.desired, reported: state.reported })) > 8192) return reject(413, 'The payload exceeds the maximum size allowed');
    if (depth(state.desired) > 6 || depth(state.reported) > 6) return reject(400, 'JSON contains too many levels of nesting; maximum is 6');
    const cur = shadows.get(key);
    if (typeof req.version === 'number' && req.version !== (cur?.version ?? 0)) return reject(409, 'Version conflict');
    const prevDoc = cur ? clone(cur) : undefined;
    const next: FakeShadow = cur ? clone(cur) : { state: {}, version: 0 };
    for (const section of ['desired', 'reported'] as const) {
      if (!(section in state)) continue;
      const v = state[section];
      if (v === null) delete next.state[section];
      else if (isObj(v)) next.state[section] = merge(next.state[section], v);
      else return reject(400, `${section} must be an object or null`);
    }
    next.version++;
    shadows.set(key, next);
    const ts = epoch();
    if (log) requests.push({ topic: `${prefix}/update`, request: req, result: 'accepted' });
    publish(`${prefix}/update/accepted`, { state: clone(state), metadata: metadataFor(state, ts), version: next.version, timestamp: ts, ...token });
    publish(`${prefix}/update/documents`, { previous: prevDoc ?? null, current: clone(next), timestamp: ts, ...token });
    if ('desired' in state && state.desired !== null) {
      const d = delta(next.state.desired, next.state.reported);
      if (d) publish(`${prefix}/update/delta`, { state: d, metadata: metadataFor(d, ts), version: next.version, timestamp: ts, ...token });
    }
    wake();
    return next.version;
  };

  const onShadow = (thing: string, name: string | undefined, op: string, req: Obj): void => {
    const prefix = name ? `$aws/things/${thing}/shadow/name/${name}` : `$aws/things/${thing}/shadow`;
    const token = req.clientToken !== undefined ? { clientToken: req.clientToken } : {};
    if (op === 'get') {
      const s = shadows.get(shadowKey(thing, name));
      if (!s) {
        requests.push({ topic: `${prefix}/get`, request: req, result: 'rejected', code: 404 });
        publish(`${prefix}/get/rejected`, { code: 404, message: `No shadow exists with name: '${name ?? thing}'`, timestamp: epoch(), ...token });
        wake();
        return;
      }
      const d = delta(s.state.desired, s.state.reported);
      requests.push({ topic: `${prefix}/get`, request: req, result: 'accepted' });
      publish(`${prefix}/get/accepted`, {
        state: { ...clone(s.state), ...(d ? { delta: d } : {}) },
        metadata: metadataFor(s.state, epoch()),
        version: s.version,
        timestamp: epoch(),
        ...token,
      });
      wake();
      return;
    }
    if (op === 'update') applyShadowUpdate(thing, name, req, prefix, token);
  };

  client.on('message', (topic, payload) => {
    const parts = topic.split('/');
    if (parts[0] !== '$aws' || parts[1] !== 'things') return;
    const thing = parts[2];
    let req: Obj = {};
    if (payload.length) {
      try {
        const v = JSON.parse(payload.toString('utf8')) as unknown;
        req = isObj(v) ? v : {};
      } catch {
        publish(`${topic}/rejected`, { code: parts[3] === 'jobs' ? 'InvalidJson' : 400, message: 'invalid JSON', timestamp: epoch() });
        return;
      }
    }
    if (parts[3] === 'jobs') onJobs(thing, parts.slice(4), req);
    else if (parts[3] === 'shadow' && parts[4] === 'name') onShadow(thing, parts[5], parts[6], req);
    else if (parts[3] === 'shadow') onShadow(thing, undefined, parts[4], req);
  });

  const waitUntil = <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const first = probe();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v === undefined) return;
        clearTimeout(t);
        clearInterval(poll);
        waiters.delete(check);
        resolve(v);
      };
      const t = setTimeout(() => {
        waiters.delete(check);
        clearInterval(poll);
        reject(new Error(`fake cloud: timed out waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 100);
      waiters.add(check);
    });
  };

  return {
    requests,
    createJob(thing, jobId, document) {
      const prev = nextJob(thing)?.jobId;
      const t = epoch();
      const j: FakeJob = {
        jobId,
        thingName: thing,
        jobDocument: clone(document),
        status: 'QUEUED',
        statusDetails: {},
        versionNumber: 1,
        executionNumber: 1,
        queuedAt: t,
        lastUpdatedAt: t,
        history: [{ status: 'QUEUED', statusDetails: {}, versionNumber: 1 }],
      };
      thingJobs(thing).push(j);
      afterChange(thing, prev);
      return j;
    },
    cancelJob(thing, jobId) {
      const j = thingJobs(thing).find((x) => x.jobId === jobId);
      if (!j || TERMINAL.includes(j.status)) return;
      const prev = nextJob(thing)?.jobId;
      setStatus(j, 'CANCELED', undefined);
      afterChange(thing, prev);
    },
    bumpJobVersion(thing, jobId) {
      const j = thingJobs(thing).find((x) => x.jobId === jobId);
      if (!j) throw new Error(`no job ${jobId}`);
      j.versionNumber++;
      j.history.push({ status: j.status, statusDetails: clone(j.statusDetails), versionNumber: j.versionNumber });
    },
    job: (thing, jobId) => thingJobs(thing).find((x) => x.jobId === jobId),
    waitForJob(thing, jobId, pred, timeoutMs = 20_000) {
      return waitUntil(
        () => {
          const j = thingJobs(thing).find((x) => x.jobId === jobId);
          return j && pred(j) ? j : undefined;
        },
        timeoutMs,
        `job ${jobId} (now ${thingJobs(thing).find((x) => x.jobId === jobId)?.status ?? 'missing'})`,
      );
    },
    renotifyNext(thing) {
      const n = nextJob(thing);
      publish(`$aws/things/${thing}/jobs/notify-next`, n ? { execution: execution(n), timestamp: epoch() } : { timestamp: epoch() });
    },
    shadow: (thing, name) => clone(shadows.get(shadowKey(thing, name))),
    setDesired(thing, desired, name) {
      const prefix = name ? `$aws/things/${thing}/shadow/name/${name}` : `$aws/things/${thing}/shadow`;
      const v = applyShadowUpdate(thing, name, { state: { desired } }, prefix, {}, false);
      if (v === undefined) throw new Error('fake cloud: desired update refused');
      return v;
    },
    publishDelta(thing, state, version, name) {
      const prefix = name ? `$aws/things/${thing}/shadow/name/${name}` : `$aws/things/${thing}/shadow`;
      publish(`${prefix}/update/delta`, { state, metadata: metadataFor(state, epoch()), version, timestamp: epoch() });
    },
    waitForShadow(thing, pred, o = {}) {
      return waitUntil(
        () => {
          const s = shadows.get(shadowKey(thing, o.name));
          return s && pred(s) ? clone(s) : undefined;
        },
        o.timeoutMs ?? 20_000,
        `shadow of ${thing}`,
      );
    },
    close: async () => {
      for (const w of waiters) waiters.delete(w);
      await client.endAsync(true).catch(() => undefined);
    },
  };
}
