/**
 * `edgewise/dev`: development and test tooling that must never be mistaken for the agent's API —
 * local MQTT brokers with a throw-away PKI, OBD-II ECU simulators. Used by the demo, the
 * benchmarks and tests that run against dist/.
 */
export { startMosquitto, freePort, createDevPki, hasOpenssl, startDevBroker, type MosquittoBroker, type DevPki, type CertPair } from './upload/index.js';
// Not through upload/index.ts on purpose: importing that index must never load aedes (dev-broker.ts loads it on demand).
// eslint-disable-next-line no-restricted-imports
export { startLocalBroker, type LocalBroker } from './upload/local-broker.js';
export { DEMO_SIM_TABLE, openSocketCanPort, startIsoTpEcus, startElmSimulator, VirtualCanBus } from './obd/index.js';
