/**
 * The local equivalent of Firehose's record-format conversion: rows -> Parquet files under Hive
 * partitions (`year=/month=/day=/hour=`), with the Glue table's column types (LAKE_COLUMNS). Used by
 * `edgewise lake` and by the tests that read the result back with DuckDB.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { partitionPath, type LakeRow, type Partition } from './rows.js';

type ParquetType = 'STRING' | 'INT32' | 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'TIMESTAMP';

/** Parquet type per Glue type (string -> UTF8 byte array, int -> INT32, bigint -> INT64, timestamp -> TIMESTAMP_MILLIS). */
const PARQUET_OF: Record<string, ParquetType> = {
  string: 'STRING',
  int: 'INT32',
  bigint: 'INT64',
  double: 'DOUBLE',
  boolean: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

import { LAKE_COLUMNS } from './rows.js';

function column(rows: readonly LakeRow[], name: keyof LakeRow, type: ParquetType): { name: string; data: unknown[]; type: ParquetType; nullable: boolean } {
  const data = new Array<unknown>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i][name];
    data[i] = v === null ? null : type === 'INT64' ? BigInt(v as number) : type === 'TIMESTAMP' ? new Date(v as number) : v;
  }
  return { name, data, type, nullable: name.startsWith('value_') };
}

/** Parquet bytes of rows (one file, Snappy). */
export function rowsToParquet(rows: readonly LakeRow[]): Uint8Array {
  const buf = parquetWriteBuffer({
    columnData: LAKE_COLUMNS.map((c) => column(rows, c.name, PARQUET_OF[c.glue])) as never,
  });
  return new Uint8Array(buf);
}

/** Write one Parquet file of rows into `<root>/<partition>/<name>.parquet` (atomically: temp file + rename). */
export function writePartitionFile(root: string, partition: Partition, name: string, rows: readonly LakeRow[]): string {
  const dir = path.join(root, partitionPath(partition));
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.parquet`);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, rowsToParquet(rows));
  renameSync(tmp, file);
  return file;
}
