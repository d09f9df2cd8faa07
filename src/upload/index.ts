/**
 * MQTT upload: the shared IoT Core connection, the batch uploader and the development broker
 * for `upload.endpoint: local`. The embedded aedes broker is not re-exported here, so importing
 * this index never loads it (dev-broker.ts imports it on demand; src/dev.ts exports it).
 */
export {
  MqttConnection,
  classifyFailure,
  backoffDelay,
  type ConnectionOptions,
  type ConnectionEvents,
  type ConnectionFailure,
  type ConnectedInfo,
  type DisconnectedInfo,
  type ConnectionState,
  type FailureKind,
  type MessageHandler,
} from './connection.js';
export { Uploader, TokenBucket, type UploaderOptions, type UploaderStats } from './uploader.js';
export { compileTopicTemplate, topicMatches, DEFAULT_BATCH_TOPIC, DEFAULT_STATUS_TOPIC } from './topic.js';
export { createDevPki, hasOpenssl, type DevPki, type CertPair } from './certs.js';
export { startMosquitto, freePort, thingAclLines, type MosquittoBroker, type MosquittoOptions } from './mosquitto.js';
export { startDevBroker, hasCommand, type DevBroker, type DevBrokerOptions } from './dev-broker.js';
export type { LocalBroker, LocalBrokerOptions, LocalBrokerMessage, LocalBrokerEvents } from './local-broker.js';
