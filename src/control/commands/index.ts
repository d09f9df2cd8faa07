export { Actuator, Rejection, type AllowedSignal, type CanWriter, type E2eConfig, type ActuatorOptions } from './actuator.js';
export { CommandsRunner, type CommandsTransport, type CommandHandlers, type CommandsRunnerOptions, type CommandsStats } from './runner.js';
export { parseCommandRequest, CommandRequestSchema, type CommandRequest } from './request.js';
export { answer, type CommandAnswer, type ExecutionStatus } from './response.js';
export { requestFilter, responseTopic, parseRequestTopic } from './topics.js';
export { mqtt5Transport } from './transport.js';
export { commandsConfigSchema, type CommandsConfig } from './config.js';
export { compileActuatorCondition } from './condition.js';
export { startCommands, type CommandsStage } from './stage.js';
