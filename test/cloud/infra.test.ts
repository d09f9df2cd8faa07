/**
 * The CDK app synthesised offline (cdk.App + aws-cdk-lib/assertions, no CLI or network), checked
 * by cdk-nag's AWS Solutions pack (a finding without a justified acknowledgement in infra/nag.ts
 * fails synthesis), and asserted against what AWS's documents require of each resource.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EdgewiseCloudStack } from '../../infra/stack.js';
import { applySuppressions } from '../../infra/nag.js';
import { REPO } from '../helpers/cli.js';

let template: Template;
let stack: EdgewiseCloudStack;
let outdir: string;

beforeAll(() => {
  if (!existsSync(path.join(REPO, 'dist/lambda/firehose.mjs'))) {
    execFileSync(process.execPath, [path.join(REPO, 'node_modules/tsup/dist/cli-default.js'), '--config', 'tsup.lambda.config.ts', '--silent'], { cwd: REPO });
  }
  outdir = mkdtempSync(path.join(os.tmpdir(), 'edgewise-cdk-'));
  const app = new App({ outdir });
  stack = new EdgewiseCloudStack(app, 'EdgewiseCloud', { env: { account: '123456789012', region: 'eu-west-1' } });
  applySuppressions(stack);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth(); // throws ValidationFailed on any unacknowledged cdk-nag finding
  template = Template.fromStack(stack);
  return () => rmSync(outdir, { recursive: true, force: true });
});

/** Statements of the inline policy attached to the role with this construct id. */
function statements(roleId: string): { Action: string | string[]; Resource: unknown }[] {
  const roleLogical = stack.getLogicalId(stack.node.findChild(roleId).node.defaultChild as never);
  const pols = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleLogical }] } });
  return Object.values(pols).flatMap((p) => (p as { Properties: { PolicyDocument: { Statement: never[] } } }).Properties.PolicyDocument.Statement);
}
const actionsOf = (roleId: string): string[] => statements(roleId).flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
const ref = (c: { node: { defaultChild?: unknown } }, attr = 'Arn'): unknown => ({ 'Fn::GetAtt': [stack.getLogicalId(c.node.defaultChild as never), attr] });

describe('CDK app', () => {
  it('passes cdk-nag AwsSolutions with every acknowledgement justified', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { conclusion: string }[] };
    expect(report.pluginReports.map((r) => r.conclusion)).toEqual(['success']);
  });

  it('the IoT rule selects the binary payload base64-encoded, with topic, thing and receive time, into Kinesis by thing', () => {
    template.hasResourceProperties('AWS::IoT::TopicRule', {
      TopicRulePayload: {
        Sql: "SELECT encode(*, 'base64') AS data, topic() AS topic, topic(2) AS thing, timestamp() AS receivedAt FROM 'edgewise/+/batches/#'",
        AwsIotSqlVersion: '2016-03-23',
        Actions: [{ Kinesis: { PartitionKey: '${topic(2)}', StreamName: { Ref: Match.anyValue() }, RoleArn: Match.anyValue() } }],
        ErrorAction: { S3: { BucketName: { Ref: Match.anyValue() }, Key: Match.stringLikeRegexp('^iot-errors/') } },
      },
    });
    expect(actionsOf('RuleRole')).toEqual(['kinesis:PutRecord', 's3:PutObject']);
    const st = statements('RuleRole');
    expect(st.find((s) => s.Action === 'kinesis:PutRecord')!.Resource).toEqual(ref(stack.stream));
  });

  it('Firehose reads the stream, transforms with the Lambda, converts to Parquet with the Glue table, partitions by year/month/day/hour', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      ExtendedS3DestinationConfiguration: Match.objectLike({
        Prefix: 'data/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/day=!{partitionKeyFromLambda:day}/hour=!{partitionKeyFromLambda:hour}/',
        ErrorOutputPrefix: Match.stringLikeRegexp('!\\{firehose:error-output-type\\}'),
        DynamicPartitioningConfiguration: { Enabled: true, RetryOptions: Match.anyValue() },
        BufferingHints: { SizeInMBs: 128, IntervalInSeconds: 300 },
        ProcessingConfiguration: {
          Enabled: true,
          Processors: [{ Type: 'Lambda', Parameters: Match.arrayWith([{ ParameterName: 'LambdaArn', ParameterValue: ref(stack.transformFn) }]) }],
        },
        DataFormatConversionConfiguration: {
          Enabled: true,
          InputFormatConfiguration: { Deserializer: { HiveJsonSerDe: { TimestampFormats: ['millis'] } } },
          OutputFormatConfiguration: { Serializer: { ParquetSerDe: { Compression: 'SNAPPY' } } },
          SchemaConfiguration: Match.objectLike({ DatabaseName: 'edgewise', TableName: 'samples', VersionId: 'LATEST' }),
        },
      }),
    });
    expect(actionsOf('FirehoseRole')).toEqual(
      [
        'glue:GetTable', 'glue:GetTableVersion', 'glue:GetTableVersions',
        'kinesis:DescribeStream', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards',
        'lambda:GetFunctionConfiguration', 'lambda:InvokeFunction', 'logs:PutLogEvents',
        's3:AbortMultipartUpload', 's3:GetBucketLocation', 's3:GetObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:PutObject',
      ].sort(),
    );
    // No statement of any role grants everything.
    for (const role of ['RuleRole', 'FirehoseRole', 'TransformRole', 'ConsumerRole']) {
      for (const s of statements(role)) expect(s.Resource, role).not.toEqual('*');
    }
  });

  it('the Glue table has the lake columns and the string partition keys year, month, day, hour with projection', () => {
    template.hasResourceProperties('AWS::Glue::Table', {
      DatabaseName: 'edgewise',
      TableInput: Match.objectLike({
        Name: 'samples',
        PartitionKeys: [
          { Name: 'year', Type: 'string' },
          { Name: 'month', Type: 'string' },
          { Name: 'day', Type: 'string' },
          { Name: 'hour', Type: 'string' },
        ],
        Parameters: Match.objectLike({ 'projection.enabled': 'true', 'projection.hour.range': '0,23' }),
        StorageDescriptor: Match.objectLike({
          Columns: Match.arrayWith([{ Name: 'time', Type: 'timestamp' }, { Name: 'value_double', Type: 'double' }]),
          SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        }),
      }),
    });
  });

  it('the consumer may only UpdateItem the latest-value table, with partial batch responses from the stream', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'vehicle', KeyType: 'HASH' },
        { AttributeName: 'signal', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    });
    const st = statements('ConsumerRole');
    expect(st.find((s) => s.Action === 'dynamodb:UpdateItem')!.Resource).toEqual(ref(stack.table));
    expect(actionsOf('ConsumerRole').filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:UpdateItem']);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      EventSourceArn: ref(stack.stream),
    });
  });

  it('buckets have lifecycle rules; alarms watch iterator age and errors', () => {
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 }] })]) } });
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 30 })] } });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => (a as { Properties: { MetricName: string; Namespace: string } }).Properties);
    const names = alarms.map((a) => `${a.Namespace}:${a.MetricName}`).sort();
    expect(names).toEqual(
      expect.arrayContaining(['AWS/Kinesis:GetRecords.IteratorAgeMilliseconds', 'AWS/Lambda:IteratorAge', 'AWS/Lambda:Errors', 'AWS/IoT:Failure', 'AWS/Firehose:DeliveryToS3.DataFreshness']),
    );
  });
});
