/** MQTT upload: the shared IoT Core connection, the batch uploader and development brokers. */
export {
  MqttConnection,
  classifyFailure,
  backoffDelay,
  silentLogger,
  type ConnectionOptions,
  type ConnectionEvents,
  type ConnectionFailure,
  type ConnectedInfo,
  type DisconnectedInfo,
  type ConnectionState,
  type FailureKind,
  type Logger as UploadLogger,
  type MessageHandler,
} from './connection.js';
export { Uploader, TokenBucket, type UploaderOptions, type UploaderStats } from './uploader.js';
export { compileTopicTemplate, topicMatches, DEFAULT_BATCH_TOPIC, DEFAULT_STATUS_TOPIC } from './topic.js';
export { createDevPki, hasOpenssl, type DevPki, type CertPair } from './certs.js';
export { startMosquitto, freePort, thingAclLines, type MosquittoBroker, type MosquittoOptions } from './mosquitto.js';
export { startLocalBroker, type LocalBroker, type LocalBrokerOptions, type LocalBrokerMessage, type LocalBrokerEvents } from './local-broker.js';
