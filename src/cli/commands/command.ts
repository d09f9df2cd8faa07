/**
 * `edgewise command send`: bench tool playing the cloud's side of AWS IoT commands against a local
 * broker: publishes one execution request for a thing and prints the vehicle's answer.
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { EdgewiseError } from '../../errors.js';
import { MqttConnection } from '../../upload/connection.js';

export function register(program: Command): void {
  const cmd = program.command('command').description('AWS IoT commands (bench use)');
  cmd
    .command('send')
    .description('publish a command execution request for a thing on a broker and print its answer')
    .requiredOption('--thing <name>', 'the vehicle (thing name)')
    .requiredOption('--payload <json>', 'request payload, e.g. \'{"actuator":{"signals":{"TargetTemp":21.5}}}\'')
    .requiredOption('--endpoint <host>', 'broker host')
    .option('--port <n>', 'broker port', '8883')
    .requiredOption('--cert <file>', 'client certificate (an identity allowed to use $aws/commands/things/<thing>/#)')
    .requiredOption('--key <file>', 'client key')
    .option('--ca <file>', 'CA of the broker')
    .option('--client-id <id>', 'MQTT client id', `edgewise-cli-${process.pid}`)
    .option('--execution-id <id>', 'execution id (default a random UUID)')
    .option('--wait <seconds>', 'how long to wait for the answer', '30')
    .action(async (o: { thing: string; payload: string; endpoint: string; port: string; cert: string; key: string; ca?: string; clientId: string; executionId?: string; wait: string }) => {
      try {
        JSON.parse(o.payload);
      } catch (err) {
        throw new EdgewiseError('USAGE', `--payload is not JSON: ${(err as Error).message}`);
      }
      const id = o.executionId ?? randomUUID();
      const base = `$aws/commands/things/${o.thing}/executions/${id}`;
      const conn = new MqttConnection({ host: o.endpoint, port: Number(o.port), thingName: o.clientId, certFile: o.cert, keyFile: o.key, caFile: o.ca, statusTopic: false });
      const answer = new Promise<string>((resolve) => {
        void conn.subscribe(`${base}/response/#`, (_t, p) => resolve(Buffer.from(p).toString('utf8')));
      });
      conn.start();
      try {
        const waitMs = Number(o.wait) * 1000;
        const deadline = Date.now() + waitMs;
        while (!conn.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if (!conn.connected) throw new EdgewiseError('UPLOAD_FAILED', `cannot connect to ${o.endpoint}:${o.port}`);
        await new Promise((r) => setTimeout(r, 200)); // the subscription goes out on connect
        await conn.publish(`${base}/request/json`, o.payload, 1);
        let timer: NodeJS.Timeout | undefined;
        const text = await Promise.race([answer, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), Math.max(0, deadline - Date.now()))))]);
        clearTimeout(timer);
        if (text === undefined) throw new EdgewiseError('UPLOAD_FAILED', `no answer to execution ${id} within ${o.wait} s`);
        process.stdout.write(`${JSON.stringify({ executionId: id, ...JSON.parse(text) }, null, 2)}\n`);
        const status = (JSON.parse(text) as { status?: string }).status;
        process.exitCode = status === 'SUCCEEDED' ? 0 : 3;
      } finally {
        await conn.stop();
      }
    });
}
