/**
 * cdk-nag (v3, CDK's Validations) acknowledgements for the stack, each with the reason it is
 * acceptable. Every other AwsSolutions finding fails `cdk synth` and test/cloud/infra.test.ts.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { EdgewiseCloudStack } from './stack.js';

function logicalId(c: IConstruct): string {
  const child = c.node.defaultChild ?? c;
  return Stack.of(c).getLogicalId(child as never);
}

function ack(c: IConstruct, id: string, reason: string): void {
  Validations.of(c).acknowledge({ id, reason });
}

export function applySuppressions(stack: EdgewiseCloudStack): void {
  const policy = (role: IConstruct): IConstruct => role.node.findChild('DefaultPolicy');
  const errors = logicalId(stack.errorBucket);
  const lake = logicalId(stack.lakeBucket);
  const ruleRole = stack.node.findChild('RuleRole');
  ack(policy(ruleRole), `AwsSolutions-IAM5[Resource::<${errors}.Arn>/iot-errors/*]`, 'The error action writes one object per failed message under the iot-errors/ prefix; object names are not known in advance.');
  for (const name of ['Transform', 'Consumer']) {
    const group = logicalId(stack.node.findChild(`${name}Logs`));
    ack(policy(stack.node.findChild(`${name}Role`)), `AwsSolutions-IAM5[Resource::<${group}.Arn>:*]`, "Lambda creates its log streams at run time inside the function's own log group; the wildcard is the log streams of that one group.");
  }
  const consumerPolicy = policy(stack.node.findChild('ConsumerRole'));
  for (const a of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
    ack(consumerPolicy, `AwsSolutions-IAM5[Action::${a}]`, "Granted by CDK's SqsDlq for sending to the KMS-encrypted failure queue; scoped to that queue's one key.");
  }
  const fhPolicy = policy(stack.node.findChild('FirehoseRole'));
  ack(fhPolicy, `AwsSolutions-IAM5[Resource::<${lake}.Arn>/data/*]`, 'Firehose writes objects under data/ with names it chooses (partition, time, uuid).');
  ack(fhPolicy, `AwsSolutions-IAM5[Resource::<${lake}.Arn>/errors/*]`, 'Firehose writes failed records under errors/ with names it chooses.');
  ack(stack.node.findChild('ConsumerDlq'), 'AwsSolutions-SQS3', "This queue is the consumer's on-failure destination (a dead-letter queue for the Kinesis event source mapping); it needs none of its own.");
  ack(stack.deliveryStream, 'AwsSolutions-KDF1', 'A delivery stream with a Kinesis Data Streams source cannot enable its own server-side encryption; the source stream is KMS-encrypted and S3 objects are SSE-S3.');
}
