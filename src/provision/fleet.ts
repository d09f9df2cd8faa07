/**
 * AWS IoT fleet provisioning by claim, device side (the MQTT API of the AWS IoT Core developer guide,
 * "Device provisioning MQTT API"): CreateCertificateFromCsr (or CreateKeysAndCertificate when
 * configured), then RegisterThing with the template parameters, over one MQTT 5 mTLS connection made
 * with the claim certificate.
 *
 * The request/response exchange is done here on an aws-crt Mqtt5Client (subscribe to /accepted and
 * /rejected, then publish the request), one request at a time; every `/rejected` payload
 * (`statusCode`, `errorCode`, `errorMessage`) and every timeout becomes one EdgewiseError line.
 */
import { iot, mqtt5 } from 'aws-crt';
import { EdgewiseError } from '../errors.js';
import { classifyFailure } from '../upload/index.js';

/** Every topic the provisioning step uses; the documented IoT claim policy is derived from this list. */
export function provisioningTopics(template: string): { publish: string[]; subscribe: string[] } {
  const t = `$aws/provisioning-templates/${template}/provision/json`;
  return {
    publish: ['$aws/certificates/create-from-csr/json', '$aws/certificates/create/json', t],
    subscribe: [
      '$aws/certificates/create-from-csr/json/accepted',
      '$aws/certificates/create-from-csr/json/rejected',
      '$aws/certificates/create/json/accepted',
      '$aws/certificates/create/json/rejected',
      `${t}/accepted`,
      `${t}/rejected`,
    ],
  };
}

export interface ClaimConnectionOptions {
  host: string;
  port?: number;
  certFile: string;
  keyFile: string;
  caFile?: string;
  /** MQTT client id for the claim connection (default `edgewise-provision-<random>`). */
  clientId?: string;
  /** Time allowed for connecting and for each reply. Default 30 s. */
  timeoutMs?: number;
}

export interface CertificateResponse {
  certificateId: string;
  certificatePem: string;
  certificateOwnershipToken: string;
  /** Only from CreateKeysAndCertificate. */
  privateKey?: string;
}

export interface RegisterThingResponse {
  thingName: string;
  deviceConfiguration: Record<string, string>;
}

/** The documented error payload of every `/rejected` topic. */
export interface ProvisioningError {
  statusCode?: number;
  errorCode?: string;
  errorMessage?: string;
}

function describeRejection(op: string, payload: unknown): string {
  const p = (payload ?? {}) as ProvisioningError;
  const code = [p.statusCode, p.errorCode].filter((x) => x !== undefined).join(' ');
  return `${op} rejected${code ? ` (${code})` : ''}: ${p.errorMessage ?? 'no error message'}`;
}

export class ClaimSession {
  private constructor(
    private readonly client: mqtt5.Mqtt5Client,
    private readonly timeoutMs: number,
    private readonly endpoint: string,
  ) {}

  /** Connects with the claim certificate; rejects with one clear line when that fails. */
  static async open(o: ClaimConnectionOptions): Promise<ClaimSession> {
    const timeoutMs = o.timeoutMs ?? 30_000;
    const b = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(o.host, o.certFile, o.keyFile);
    if (o.port) b.withPort(o.port);
    if (o.caFile) b.withCertificateAuthorityFromPath(undefined, o.caFile);
    b.withConnectProperties({
      clientId: o.clientId ?? `edgewise-provision-${Math.random().toString(36).slice(2, 10)}`,
      keepAliveIntervalSeconds: 30,
    })
      .withSessionBehavior(mqtt5.ClientSessionBehavior.Clean)
      .withConnackTimeoutMs(Math.min(timeoutMs, 10_000))
      .withAckTimeoutSeconds(Math.ceil(timeoutMs / 1000))
      .withOfflineQueueBehavior(mqtt5.ClientOperationQueueBehavior.FailAllOnDisconnect);
    let client: mqtt5.Mqtt5Client;
    try {
      client = new mqtt5.Mqtt5Client(b.build());
    } catch (e) {
      throw new EdgewiseError('CONFIG_INVALID', `cannot use the claim certificate/key: ${(e as Error).message}`, {}, { cause: e });
    }
    const endpoint = `${o.host}:${o.port ?? 8883}`;
    await new Promise<void>((resolve, reject) => {
      let last = '';
      const timer = setTimeout(() => {
        client.stop();
        client.close();
        reject(new EdgewiseError('IO', `provisioning: could not connect to ${endpoint} with the claim certificate within ${timeoutMs / 1000} s${last ? ` (${last})` : ''}`, { endpoint }));
      }, timeoutMs);
      client.once('connectionSuccess', () => {
        clearTimeout(timer);
        resolve();
      });
      client.on('connectionFailure', (ev) => {
        const f = classifyFailure(ev.error, ev.connack?.reasonCode);
        last = f.reason;
        // a refused certificate or CONNACK will not get better by retrying: fail now
        if (f.kind === 'tls' || f.kind === 'auth') {
          clearTimeout(timer);
          client.stop();
          client.close();
          reject(new EdgewiseError('IO', `provisioning: ${endpoint} refused the claim certificate: ${f.reason}`, { endpoint }));
        }
      });
      client.start();
    });
    return new ClaimSession(client, timeoutMs, endpoint);
  }

  /** Subscribe to accepted/rejected, publish the request, wait for one reply. */
  private async call<T>(op: string, topic: string, body: unknown): Promise<T> {
    const accepted = `${topic}/accepted`;
    const rejected = `${topic}/rejected`;
    let onMessage!: (ev: mqtt5.MessageReceivedEvent) => void;
    const reply = new Promise<T>((resolve, reject) => {
      onMessage = (ev) => {
        const t = ev.message.topicName;
        if (t !== accepted && t !== rejected) return;
        let payload: unknown;
        try {
          payload = JSON.parse(Buffer.from(ev.message.payload as ArrayBuffer).toString('utf8'));
        } catch {
          reject(new EdgewiseError('IO', `provisioning: ${op} answered with a payload that is not JSON on ${t}`, { topic: t }));
          return;
        }
        if (t === rejected) reject(new EdgewiseError('IO', `provisioning: ${describeRejection(op, payload)}`, { topic: t, payload }));
        else resolve(payload as T);
      };
    });
    reply.catch(() => undefined); // a reply before the race below starts is not unhandled
    this.client.on('messageReceived', onMessage);
    let timer: NodeJS.Timeout | undefined;
    try {
      const sub = await this.client.subscribe({
        subscriptions: [
          { topicFilter: accepted, qos: mqtt5.QoS.AtLeastOnce },
          { topicFilter: rejected, qos: mqtt5.QoS.AtLeastOnce },
        ],
      });
      if (sub.reasonCodes.some((c) => c >= 0x80)) {
        throw new EdgewiseError('IO', `provisioning: the broker refused the subscription to ${accepted} (reason ${sub.reasonCodes.join(',')}): the claim policy must allow it`, { topic: accepted });
      }
      const pub = await this.client.publish({ topicName: topic, qos: mqtt5.QoS.AtLeastOnce, payload: JSON.stringify(body) });
      const rc = (pub as mqtt5.PublishCompletionResult & { reasonCode?: number } | undefined)?.reasonCode ?? 0;
      if (rc >= 0x80) throw new EdgewiseError('IO', `provisioning: the broker refused the publish to ${topic} (reason ${rc}): the claim policy must allow it`, { topic });
      return await Promise.race([
        reply,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new EdgewiseError('IO', `provisioning: no answer to ${op} from ${this.endpoint} within ${this.timeoutMs / 1000} s`, { topic })), this.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.client.removeListener('messageReceived', onMessage);
      await this.client.unsubscribe({ topicFilters: [accepted, rejected] }).catch(() => undefined);
    }
  }

  async createCertificateFromCsr(csrPem: string): Promise<CertificateResponse> {
    const r = await this.call<CertificateResponse>('CreateCertificateFromCsr', '$aws/certificates/create-from-csr/json', { certificateSigningRequest: csrPem });
    if (!r.certificatePem || !r.certificateOwnershipToken || !r.certificateId) {
      throw new EdgewiseError('IO', 'provisioning: CreateCertificateFromCsr accepted without certificatePem/certificateId/certificateOwnershipToken', {});
    }
    return r;
  }

  async createKeysAndCertificate(): Promise<CertificateResponse> {
    const r = await this.call<CertificateResponse>('CreateKeysAndCertificate', '$aws/certificates/create/json', {});
    if (!r.certificatePem || !r.certificateOwnershipToken || !r.privateKey) {
      throw new EdgewiseError('IO', 'provisioning: CreateKeysAndCertificate accepted without certificatePem/privateKey/certificateOwnershipToken', {});
    }
    return r;
  }

  async registerThing(template: string, token: string, parameters: Record<string, string>): Promise<RegisterThingResponse> {
    const r = await this.call<RegisterThingResponse>(`RegisterThing (template ${template})`, `$aws/provisioning-templates/${template}/provision/json`, {
      certificateOwnershipToken: token,
      parameters,
    });
    if (typeof r.thingName !== 'string' || r.thingName === '') {
      throw new EdgewiseError('IO', `provisioning: RegisterThing accepted without a thingName (the template ${template} must create a thing)`, {});
    }
    return { thingName: r.thingName, deviceConfiguration: r.deviceConfiguration ?? {} };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.client.once('stopped', () => {
        clearTimeout(t);
        resolve();
      });
      this.client.stop();
    });
    this.client.close();
  }
}
