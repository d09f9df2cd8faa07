/**
 * The cloud side of an edgewise fleet as one CDK stack: IoT rule -> Kinesis Data Streams ->
 * (a) Firehose with the transform Lambda, Parquet conversion against a Glue table, partitioned by
 *     year/month/day/hour, into the lake bucket; (b) the consumer Lambda writing the latest value per
 *     vehicle and signal to DynamoDB. Errors land in the errors bucket; alarms go to an SNS topic.
 * The Lambda code is dist/lambda/ (npm run build). docs/cloud.md describes deploying it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, type StackProps, Aws } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as iot from 'aws-cdk-lib/aws-iot';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import { RULE_SQL } from '../src/cloud/record.js';
import { LAKE_COLUMNS, PARTITION_KEYS } from '../src/cloud/rows.js';

export const LAMBDA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/lambda');

export interface EdgewiseCloudProps extends StackProps {
  /** Directory with firehose.mjs and kinesis.mjs (default dist/lambda). */
  lambdaDir?: string;
  /** Days before lake objects move to Intelligent-Tiering (default 30). */
  lakeTieringDays?: number;
  /** Days error objects are kept (default 30). */
  errorRetentionDays?: number;
}

export class EdgewiseCloudStack extends Stack {
  readonly stream: kinesis.Stream;
  readonly lakeBucket: s3.Bucket;
  readonly errorBucket: s3.Bucket;
  readonly table: dynamodb.Table;
  readonly rule: iot.CfnTopicRule;
  readonly deliveryStream: firehose.CfnDeliveryStream;
  readonly transformFn: lambda.Function;
  readonly consumerFn: lambda.Function;

  constructor(scope: Construct, id: string, props: EdgewiseCloudProps = {}) {
    super(scope, id, props);
    const code = lambda.Code.fromAsset(props.lambdaDir ?? LAMBDA_DIR, { exclude: ['*.map'] });

    // --- Buckets --------------------------------------------------------------------------------
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.lakeBucket = new s3.Bucket(this, 'Lake', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: false,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'lake/',
      lifecycleRules: [
        { id: 'tiering', prefix: 'data/', transitions: [{ storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(props.lakeTieringDays ?? 30) }] },
        { id: 'abort-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.errorBucket = new s3.Bucket(this, 'Errors', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'errors/',
      lifecycleRules: [{ id: 'expire', expiration: Duration.days(props.errorRetentionDays ?? 30) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Stream ---------------------------------------------------------------------------------
    this.stream = new kinesis.Stream(this, 'Batches', {
      streamMode: kinesis.StreamMode.ON_DEMAND,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: Duration.hours(48),
    });

    // --- IoT rule -------------------------------------------------------------------------------
    const ruleRole = new iam.Role(this, 'RuleRole', { assumedBy: new iam.ServicePrincipal('iot.amazonaws.com') });
    ruleRole.addToPolicy(new iam.PolicyStatement({ actions: ['kinesis:PutRecord'], resources: [this.stream.streamArn] }));
    ruleRole.addToPolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [this.errorBucket.arnForObjects('iot-errors/*')] }));
    this.rule = new iot.CfnTopicRule(this, 'Rule', {
      topicRulePayload: {
        sql: RULE_SQL,
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        description: 'edgewise batches (binary, base64-encoded) to Kinesis, partitioned by thing',
        actions: [{ kinesis: { streamName: this.stream.streamName, partitionKey: '${topic(2)}', roleArn: ruleRole.roleArn } }],
        errorAction: { s3: { bucketName: this.errorBucket.bucketName, key: 'iot-errors/${topic(2)}/${timestamp()}-${newuuid()}', roleArn: ruleRole.roleArn } },
      },
    });

    // --- Glue table (the Parquet schema Firehose converts to; Athena reads it) ------------------
    const database = new glue.CfnDatabase(this, 'Database', { catalogId: Aws.ACCOUNT_ID, databaseInput: { name: 'edgewise', description: 'edgewise fleet lake' } });
    const tableName = 'samples';
    const table = new glue.CfnTable(this, 'SamplesTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: 'edgewise',
      tableInput: {
        name: tableName,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'parquet',
          // Partition projection: Athena computes partitions, no crawler or MSCK REPAIR needed.
          'projection.enabled': 'true',
          'projection.year.type': 'integer',
          'projection.year.range': '2024,2099',
          'projection.month.type': 'integer',
          'projection.month.range': '1,12',
          'projection.month.digits': '2',
          'projection.day.type': 'integer',
          'projection.day.range': '1,31',
          'projection.day.digits': '2',
          'projection.hour.type': 'integer',
          'projection.hour.range': '0,23',
          'projection.hour.digits': '2',
          'storage.location.template': `s3://${this.lakeBucket.bucketName}/data/year=\${year}/month=\${month}/day=\${day}/hour=\${hour}/`,
        },
        partitionKeys: PARTITION_KEYS.map((k) => ({ name: k, type: 'string' })),
        storageDescriptor: {
          columns: LAKE_COLUMNS.map((c) => ({ name: c.name, type: c.glue })),
          location: `s3://${this.lakeBucket.bucketName}/data/`,
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    table.addResourceDependency(database);

    // --- Lambdas --------------------------------------------------------------------------------
    const fnLogs = (name: string): logs.LogGroup => new logs.LogGroup(this, `${name}Logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const fnRole = (name: string, group: logs.LogGroup): iam.Role => {
      const role = new iam.Role(this, `${name}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      role.addToPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [group.logGroupArn, `${group.logGroupArn}:*`] }));
      return role;
    };
    const transformLogs = fnLogs('Transform');
    this.transformFn = new lambda.Function(this, 'Transform', {
      runtime: lambda.Runtime.NODEJS_26_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'firehose.handler',
      code,
      memorySize: 512,
      timeout: Duration.minutes(1),
      role: fnRole('Transform', transformLogs),
      logGroup: transformLogs,
      description: 'edgewise: Firehose transform, batches -> one JSON row per sample',
    });
    this.table = new dynamodb.Table(this, 'Latest', {
      partitionKey: { name: 'vehicle', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'signal', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const consumerLogs = fnLogs('Consumer');
    const consumerRole = fnRole('Consumer', consumerLogs);
    this.consumerFn = new lambda.Function(this, 'Consumer', {
      runtime: lambda.Runtime.NODEJS_26_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'kinesis.handler',
      code,
      memorySize: 512,
      timeout: Duration.minutes(1),
      role: consumerRole,
      logGroup: consumerLogs,
      environment: { LATEST_TABLE: this.table.tableName },
      description: 'edgewise: Kinesis consumer, latest value per vehicle and signal to DynamoDB',
    });
    consumerRole.addToPolicy(new iam.PolicyStatement({ actions: ['dynamodb:UpdateItem'], resources: [this.table.tableArn] }));
    const dlqKey = new kms.Key(this, 'DlqKey', { enableKeyRotation: true });
    const dlq = new sqs.Queue(this, 'ConsumerDlq', { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: dlqKey, enforceSSL: true, retentionPeriod: Duration.days(14) });
    this.consumerFn.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: 100,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 10,
        onFailure: new SqsDlq(dlq),
      }),
    );

    // --- Firehose -------------------------------------------------------------------------------
    const fhLogs = new logs.LogGroup(this, 'FirehoseLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const fhLogStream = new logs.LogStream(this, 'FirehoseLogStream', { logGroup: fhLogs, logStreamName: 'delivery' });
    const fhRole = new iam.Role(this, 'FirehoseRole', { assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com') });
    fhRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['kinesis:DescribeStream', 'kinesis:GetShardIterator', 'kinesis:GetRecords', 'kinesis:ListShards'], resources: [this.stream.streamArn] }),
    );
    fhRole.addToPolicy(new iam.PolicyStatement({ actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [this.lakeBucket.bucketArn] }));
    fhRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'], resources: [this.lakeBucket.arnForObjects('data/*'), this.lakeBucket.arnForObjects('errors/*')] }),
    );
    fhRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction', 'lambda:GetFunctionConfiguration'], resources: [this.transformFn.functionArn] }));
    fhRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetTable', 'glue:GetTableVersion', 'glue:GetTableVersions'],
        resources: [
          `arn:${Aws.PARTITION}:glue:${Aws.REGION}:${Aws.ACCOUNT_ID}:catalog`,
          `arn:${Aws.PARTITION}:glue:${Aws.REGION}:${Aws.ACCOUNT_ID}:database/edgewise`,
          `arn:${Aws.PARTITION}:glue:${Aws.REGION}:${Aws.ACCOUNT_ID}:table/edgewise/${tableName}`,
        ],
      }),
    );
    fhRole.addToPolicy(new iam.PolicyStatement({ actions: ['logs:PutLogEvents'], resources: [`${fhLogs.logGroupArn}:log-stream:${fhLogStream.logStreamName}`] }));
    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'LakeDelivery', {
      deliveryStreamType: 'KinesisStreamAsSource',
      kinesisStreamSourceConfiguration: { kinesisStreamArn: this.stream.streamArn, roleArn: fhRole.roleArn },
      extendedS3DestinationConfiguration: {
        bucketArn: this.lakeBucket.bucketArn,
        roleArn: fhRole.roleArn,
        prefix: 'data/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/day=!{partitionKeyFromLambda:day}/hour=!{partitionKeyFromLambda:hour}/',
        errorOutputPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
        // Format conversion needs at least 64 MB buffers.
        bufferingHints: { sizeInMBs: 128, intervalInSeconds: 300 },
        compressionFormat: 'UNCOMPRESSED',
        dynamicPartitioningConfiguration: { enabled: true, retryOptions: { durationInSeconds: 300 } },
        processingConfiguration: {
          enabled: true,
          processors: [
            {
              type: 'Lambda',
              parameters: [
                { parameterName: 'LambdaArn', parameterValue: this.transformFn.functionArn },
                { parameterName: 'BufferSizeInMBs', parameterValue: '1' },
                { parameterName: 'BufferIntervalInSeconds', parameterValue: '60' },
                { parameterName: 'NumberOfRetries', parameterValue: '3' },
              ],
            },
          ],
        },
        dataFormatConversionConfiguration: {
          enabled: true,
          inputFormatConfiguration: { deserializer: { hiveJsonSerDe: { timestampFormats: ['millis'] } } },
          outputFormatConfiguration: { serializer: { parquetSerDe: { compression: 'SNAPPY' } } },
          schemaConfiguration: { databaseName: 'edgewise', tableName, roleArn: fhRole.roleArn, region: Aws.REGION, catalogId: Aws.ACCOUNT_ID, versionId: 'LATEST' },
        },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: fhLogs.logGroupName, logStreamName: fhLogStream.logStreamName },
      },
    });
    this.deliveryStream.node.addDependency(fhRole);
    this.deliveryStream.addResourceDependency(table);

    // --- Alarms ---------------------------------------------------------------------------------
    const alarmKey = new kms.Key(this, 'AlarmKey', { enableKeyRotation: true });
    alarmKey.grantEncryptDecrypt(new iam.ServicePrincipal('cloudwatch.amazonaws.com'));
    const topic = new sns.Topic(this, 'Alarms', { masterKey: alarmKey, enforceSSL: true });
    const action = new cwActions.SnsAction(topic);
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, desc: string): void => {
      new cloudwatch.Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: desc,
      }).addAlarmAction(action);
    };
    alarm('StreamIteratorAge', this.stream.metricGetRecordsIteratorAgeMilliseconds({ statistic: 'Maximum', period: Duration.minutes(1) }), 60_000, 'Kinesis readers are over a minute behind');
    alarm('ConsumerIteratorAge', new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName: 'IteratorAge', dimensionsMap: { FunctionName: this.consumerFn.functionName }, statistic: 'Maximum', period: Duration.minutes(1) }), 60_000, 'Latest-value consumer is over a minute behind');
    alarm('ConsumerErrors', this.consumerFn.metricErrors({ period: Duration.minutes(5) }), 1, 'Latest-value consumer invocations fail');
    alarm('TransformErrors', this.transformFn.metricErrors({ period: Duration.minutes(5) }), 1, 'Firehose transform invocations fail');
    alarm('ConsumerDlqDepth', dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }), 1, 'Records the consumer gave up on');
    alarm('RuleFailures', new cloudwatch.Metric({ namespace: 'AWS/IoT', metricName: 'Failure', dimensionsMap: { RuleName: this.rule.ref }, statistic: 'Sum', period: Duration.minutes(5) }), 1, 'The IoT rule fails to forward batches');
    alarm('FirehoseFreshness', new cloudwatch.Metric({ namespace: 'AWS/Firehose', metricName: 'DeliveryToS3.DataFreshness', dimensionsMap: { DeliveryStreamName: this.deliveryStream.ref }, statistic: 'Maximum', period: Duration.minutes(5) }), 900, 'Lake delivery is over 15 minutes old');
  }
}
