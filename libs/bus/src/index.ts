export { type Change, updateByCompareAndSet } from "./compare-and-set.js";
export { type Bus, busConfig, busOptionsFromConfig, connectBus } from "./connect.js";
export {
  type DeadLetterRecord,
  decodeDeadLetter,
  listDeadLetters,
  makeDeadLetterRecord,
  publishDeadLetter,
} from "./dead-letter.js";
export { startDeadLetterConsumer } from "./dead-letter-consumer.js";
export { AlreadyExistsError, isWrongLastSequence, RevisionConflictError, toBusError } from "./errors.js";
export { isTerminalEvent, publishEvent, replayEvents } from "./events.js";
export { isTerminalState } from "./job-state.js";
export { JobStore } from "./job-store.js";
export {
  checkJobId,
  DLQ_STREAM,
  DLQ_SUBJECT_PREFIX,
  EVENTS_STREAM,
  EVENTS_SUBJECT_PREFIX,
  eventSubject,
  HEADER_EVENT_SEQUENCE,
  HEADER_TASK_ID,
  PROGRESS_QUEUE_GROUP,
  RESULTS_DLQ_STAGE,
  RESULTS_STREAM,
  RUNS_BUCKET,
  STAGES,
  type StageName,
  stageOf,
  TASKS_STREAM,
  taskSubject,
} from "./names.js";
export { publishCancel, publishTask } from "./publish.js";
export type { PullLoop } from "./pull-options.js";
export { publishResult, type ResultConsumer, startResultConsumer } from "./results.js";
export { sleep } from "./retry.js";
export { runStageWorker, type StageHandler } from "./stage-worker.js";
export { encodeTask } from "./task-codec.js";
export { ensureTopology, openRunsBucket } from "./topology.js";
export { runWorker, type Worker } from "./worker.js";
