/**
 * An embedded MQTT broker (aedes) behind a mutual-TLS server, so `npm start` works for a new user
 * without AWS or a system broker. Development certificates are created in `dir` on first run (with
 * `openssl`) and reused afterwards.
 *
 * Like AWS IoT Core, the client certificate's CN is the identity: the MQTT client id must equal it,
 * and a thing may use only `edgewise/<thing>/#`, `$aws/things/<thing>/#`,
 * `$aws/iotfleetwise/vehicles/<thing>/#` and publish to `$aws/rules/#`.
 *
 * aedes speaks MQTT 3.1.1 only: connect with `MqttConnection({ protocol: 'mqtt311', ... })`. For MQTT 5
 * locally use mosquitto (`startMosquitto`).
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { Aedes, type Client } from 'aedes';
import { EdgewiseError } from '../errors.js';
import { createDevPki, hasOpenssl, type DevPki } from './certs.js';
import { topicMatches } from './topic.js';

export interface LocalBrokerOptions {
  /** Where the dev PKI lives (created on first run). */
  dir: string;
  /** TLS port on 127.0.0.1; 0 picks a free one. Default 8883. */
  port?: number;
  /** Thing whose client certificate is prepared. Default `edgewise-dev`. */
  thingName?: string;
}

export interface LocalBrokerMessage {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** Client id of the publisher. */
  clientId: string;
}

export interface LocalBrokerEvents {
  message: [LocalBrokerMessage];
  clientConnected: [string];
  clientDisconnected: [string];
}

export interface LocalBroker extends EventEmitter<LocalBrokerEvents> {
  host: 'localhost';
  port: number;
  thingName: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  pki: DevPki;
  close(): Promise<void>;
}

function thingAllowed(thing: string, topic: string, write: boolean): boolean {
  const own = [`edgewise/${thing}/#`, `$aws/things/${thing}/#`, `$aws/iotfleetwise/vehicles/${thing}/#`];
  if (own.some((f) => topicMatches(f, topic) || f === `${topic}/#`)) return true;
  return write && topicMatches('$aws/rules/#', topic);
}

function peerCn(client: Client): string | undefined {
  const sock = client.conn as unknown as tls.TLSSocket;
  if (typeof sock.getPeerCertificate !== 'function') return undefined;
  const cn = sock.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

export async function startLocalBroker(opts: LocalBrokerOptions): Promise<LocalBroker> {
  if (!hasOpenssl()) {
    throw new EdgewiseError(
      'IO',
      'the local dev broker needs openssl to create its certificates: install it (Debian/Ubuntu: `apt-get install openssl`, macOS: `brew install openssl`)',
      {},
    );
  }
  const thingName = opts.thingName ?? 'edgewise-dev';
  const pki = createDevPki(path.resolve(opts.dir));
  const thing = pki.certFor(thingName);
  const emitter = new EventEmitter<LocalBrokerEvents>();

  const aedes = await Aedes.createBroker({
    authenticate(client, _user, _pass, done) {
      const cn = peerCn(client);
      if (!cn || cn !== client.id) {
        const err = Object.assign(new Error(`client id ${client.id} does not match certificate CN ${cn ?? '(none)'}`), { returnCode: 5 });
        done(err as Error & { returnCode: 5 }, false);
        return;
      }
      done(null, true);
    },
    authorizePublish(client, packet, cb) {
      if (!client) return cb(null);
      cb(thingAllowed(client.id, packet.topic, true) ? null : new Error(`not authorized to publish to ${packet.topic}`));
    },
    authorizeSubscribe(client, sub, cb) {
      if (thingAllowed(client.id, sub.topic, false)) cb(null, sub);
      else cb(new Error(`not authorized to subscribe to ${sub.topic}`), null);
    },
  });
  aedes.on('publish', (packet, client) => {
    if (!client) return;
    emitter.emit('message', {
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      retain: packet.retain,
      clientId: client.id,
    });
  });
  aedes.on('clientReady', (c) => emitter.emit('clientConnected', c.id));
  aedes.on('clientDisconnect', (c) => emitter.emit('clientDisconnected', c.id));
  aedes.on('clientError', () => undefined);
  aedes.on('connectionError', () => undefined);

  const server = tls.createServer(
    {
      key: readFileSync(pki.serverKeyFile),
      cert: readFileSync(pki.serverCertFile),
      ca: readFileSync(pki.caFile),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (socket) => aedes.handle(socket),
  );
  server.on('tlsClientError', () => undefined); // rejected certificates are the client's problem
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new EdgewiseError('IO', `local broker cannot listen on 127.0.0.1:${opts.port ?? 8883}: ${e.code ?? e.message}`, {}, { cause: e })),
    );
    server.listen(opts.port ?? 8883, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  return Object.assign(emitter, {
    host: 'localhost' as const,
    port,
    thingName,
    caFile: pki.caFile,
    certFile: thing.cert,
    keyFile: thing.key,
    pki,
    close: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
}
