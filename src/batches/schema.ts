/**
 * The batch schema: the exact text of proto/edgewise/batch.proto (the documented source of truth),
 * parsed by protobufjs once at load time. test/batches/schema.test.ts fails when the two differ;
 * after editing the .proto, paste its text here verbatim.
 */
import protobuf from 'protobufjs';

export const PROTO_PATH = 'proto/edgewise/batch.proto';

export const PROTO_SOURCE = `// edgewise batch wire format, schema version 1.
//
// This file is the documented source of truth. src/batches/schema.ts carries the same text
// (a test checks that they agree) and protobufjs parses it at startup.
//
// One MQTT message = envelope + Batch:
//   byte 0  0xED            magic ("edgewise")
//   byte 1  codec           0 = OFF, 1 = SNAPPY (raw snappy block, no framing), 2 = BROTLI
//   byte 2… payload         the Batch message below, compressed with the codec
//
// Times: \`trigger_time_ms\` is ms since the Unix epoch (double, keeps µs). Sample times are
// microseconds: the first sample of a signal relative to the trigger time, every further one
// relative to the previous sample (zigzag varints; usually 1–3 bytes).
//
// A collection event larger than the IoT Core payload limit is split into parts: every part
// carries the full header (same seq, part_index of part_count) and whole or partial signals,
// each part decodable on its own.
syntax = "proto3";

package edgewise.v1;

message Batch {
  // 1 for this file. A decoder rejects versions it does not know.
  uint32 schema_version = 1;
  Header header = 2;
  repeated Signal signals = 3;
  repeated Dtc dtcs = 4;
}

message Header {
  // IoT thing name of the vehicle.
  string vehicle = 1;
  string campaign = 2;
  uint32 campaign_version = 3;
  // FleetWise-style collection event id (counter | (ms << 8), MSB cleared).
  uint32 event_id = 4;
  // Time of the sample that fired the trigger, ms since the epoch.
  double trigger_time_ms = 5;
  // Per-vehicle monotonically increasing sequence number; the cloud de-duplicates on (vehicle, seq, part_index).
  uint64 seq = 6;
  uint32 part_index = 7;
  uint32 part_count = 8;
  // Names of the conditions that fired (MULTI_RISING_EDGE_TRIGGER); empty otherwise.
  repeated string triggered_by = 9;
  // Campaign priority (lower = more important).
  uint32 priority = 10;
}

enum SignalType {
  SIGNAL_TYPE_UNSPECIFIED = 0;
  BOOL = 1;
  UINT8 = 2;
  UINT16 = 3;
  UINT32 = 4;
  UINT64 = 5;
  INT8 = 6;
  INT16 = 7;
  INT32 = 8;
  INT64 = 9;
  FLOAT32 = 10;
  FLOAT64 = 11;
  STRING = 12;
}

// The samples of one signal, columnar. Exactly one of the value fields holds the values, as many
// as there are time deltas. Normally it is the field of the signal's native type:
//   int8..int64 -> sint64_values, uint8..uint64 -> uint64_values, float32 -> float_values,
//   float64 -> double_values, bool -> bool_values, string -> string_values.
// When a value cannot be represented exactly in the native field (e.g. 0.1 declared float32,
// 1.5 declared int16) the encoder falls back to double_values (or string_values) so no data
// is changed; \`type\` still names the declared type. A decoder reads whichever value field is
// non-empty.
message Signal {
  string name = 1;
  SignalType type = 2;
  // Data partition id; empty means "default".
  string partition_id = 3;
  repeated sint64 time_deltas_us = 4;
  repeated sint64 sint64_values = 5;
  repeated uint64 uint64_values = 6;
  repeated float float_values = 7;
  repeated double double_values = 8;
  repeated bool bool_values = 9;
  repeated string string_values = 10;
}

// Active diagnostic trouble codes read at one moment.
message Dtc {
  // Microseconds relative to the trigger time.
  sint64 time_us = 1;
  repeated string codes = 2;
}
`;

export const SCHEMA_VERSION = 1;

const root = protobuf.parse(PROTO_SOURCE, { keepCase: true }).root.resolveAll();

/** protobufjs message types of edgewise.v1. */
export const BatchType = root.lookupType('edgewise.v1.Batch');
export const HeaderType = root.lookupType('edgewise.v1.Header');
export const SignalTypeEnum = root.lookupEnum('edgewise.v1.SignalType');
export const schemaRoot = root;
