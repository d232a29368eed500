/**
 * `startDeadLetterConsumer`: the gateway's loop on the dead letters (durable consumer `gateway` on
 * LONGSHOT_DLQ, `longshot.dlq.>`), the dead-letter side of the one pull loop (pull-loop.ts): one record
 * at a time per slot, handed to `handle` (the coordinator fails the record's job). A transient failure
 * is retried with the delivery back-off for up to `maxDeliveries` deliveries; a record that cannot be
 * read or handled after that is terminated and logged (a dead letter is not dead-lettered again).
 */
import { hostname } from "node:os";
import { createLogger } from "@longshot/core";
import { type DeadLetterRecord, decodeDeadLetter } from "./dead-letter.js";
import { DLQ_CONSUMER, DLQ_STREAM } from "./names.js";
import { startPullLoop } from "./pull-loop.js";
import { type DeliveryContext, openPullConsumer, type PullLoop, type PullOptions } from "./pull-options.js";

export interface DeadLetterConsumerOptions extends Omit<PullOptions, "deadLetterAdvisories"> {
  handle: (record: DeadLetterRecord, ctx: DeliveryContext) => Promise<void>;
  /** Deliveries of a record whose handling fails transiently before it is dropped (default 20). */
  maxDeliveries?: number;
}

/** Starts the loop (see the module comment); NotFoundError when the consumer does not exist (run ensureTopology). */
export async function startDeadLetterConsumer(options: DeadLetterConsumerOptions): Promise<PullLoop<DeadLetterRecord>> {
  const opened = await openPullConsumer("startDeadLetterConsumer", options, DLQ_STREAM, DLQ_CONSUMER);
  const workerId = options.workerId ?? `${hostname()}/${process.pid}`;
  return startPullLoop<DeadLetterRecord>(
    {
      ...options,
      name: "startDeadLetterConsumer",
      noun: "dead letter",
      stream: DLQ_STREAM,
      consumer: DLQ_CONSUMER,
      workerId,
      logger: (options.logger ?? createLogger("bus", "warn")).child({ component: "dlq", workerId }),
      decode: (data) => decodeDeadLetter(data),
      ids: (record) => ({ jobId: record.jobId, taskId: record.taskId }),
      handle: options.handle,
      cancelled: (record) => `dead letter of task ${record.taskId ?? "?"} no longer wanted`,
      maxDeliveries: options.maxDeliveries ?? 20,
    },
    opened,
  );
}
