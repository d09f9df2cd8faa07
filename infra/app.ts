/** `npx cdk synth` / `npx cdk deploy` entry (cdk.json). Checks every construct with cdk-nag's AWS Solutions pack. */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from 'cdk-nag';
import { EdgewiseCloudStack } from './stack.js';
import { applySuppressions } from './nag.js';

const app = new App();
const stack = new EdgewiseCloudStack(app, 'EdgewiseCloud', { env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION } });
applySuppressions(stack);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
