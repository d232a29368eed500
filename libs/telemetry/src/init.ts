/**
 * OpenTelemetry bootstrap for a longshot process: call `initTelemetry` once at start-up, before
 * connecting to NATS or serving gRPC, and `shutdown()` on exit (it flushes pending spans).
 *
 * - Context: AsyncLocalStorage context manager; propagation: W3C traceparent/tracestate + baggage.
 *   Both are always registered, so a process without an exporter still passes incoming trace
 *   context on to the messages it sends (its own spans are non-recording).
 * - Traces: an OTLP/HTTP exporter (Jaeger's port 4318, or any OTLP collector) behind a batch span
 *   processor when `otlpEndpoint` is set; sampling is parent-based with a trace-id ratio at the root.
 *   Without an endpoint (and without `spanExporters`) no tracer provider is registered: the API's
 *   no-op tracer costs nothing.
 * - Metrics: a Prometheus `/metrics` endpoint when `prometheus` is set; otherwise the metrics API
 *   stays a no-op.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ConfigError, defineConfig, InvalidArgumentError, type Logger } from "@longshot/core";
import { context, DiagLogLevel, diag, metrics, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";

/** Config fields for telemetry; spread them into a service schema: `defineConfig({ ...telemetryConfig, … })`. */
export const telemetryConfig = defineConfig({
  otlpEndpoint: {
    type: "url",
    env: "OTEL_EXPORTER_OTLP_ENDPOINT",
    flag: "otlp-endpoint",
    protocols: ["http", "https"],
    description:
      "OTLP/HTTP endpoint traces are sent to (e.g. http://127.0.0.1:4318, Jaeger); unset: no traces exported",
  },
  traceSampleRatio: {
    type: "float",
    env: "LONGSHOT_TRACE_SAMPLE_RATIO",
    flag: "trace-sample-ratio",
    default: 1,
    min: 0,
    max: 1,
    description: "Fraction of new traces sampled (traces started elsewhere follow their parent's decision)",
  },
  metricsPort: {
    type: "int",
    env: "LONGSHOT_METRICS_PORT",
    flag: "metrics-port",
    min: 0,
    max: 65535,
    description: "Port of the Prometheus /metrics endpoint (0 picks a free one); unset: no metrics endpoint",
  },
  metricsHost: {
    type: "string",
    env: "LONGSHOT_METRICS_HOST",
    flag: "metrics-host",
    default: "0.0.0.0",
    description: "Address the /metrics endpoint binds",
  },
});

export interface TelemetryOptions {
  /** `service.name` of every span and metric, e.g. "gateway", "keyframe". */
  serviceName: string;
  serviceVersion?: string;
  /**
   * OTLP/HTTP endpoint: a base URL (`http://127.0.0.1:4318`, traces go to `/v1/traces`) or the full
   * traces URL ending in `/v1/traces`. Unset: no OTLP export.
   */
  otlpEndpoint?: string;
  /** Extra headers on OTLP requests (e.g. an API key of a hosted collector). */
  otlpHeaders?: Record<string, string>;
  /** Fraction of root traces sampled, 0..1 (default 1). Children follow their parent. */
  sampleRatio?: number;
  /** More exporters, each behind a SimpleSpanProcessor (spans exported as they end), e.g. in-memory in tests. */
  spanExporters?: SpanExporter[];
  /** Serve Prometheus metrics at `http://host:port/metrics` (port 0 picks a free one). */
  prometheus?: { port: number; host?: string };
  /** More resource attributes (`deployment.environment.name`, `service.instance.id`, …). */
  resourceAttributes?: Record<string, string | number | boolean>;
  /** Where OpenTelemetry's own warnings and errors (e.g. failed exports) are logged. */
  logger?: Logger;
}

export interface Telemetry {
  /** Whether spans are recorded and exported (an endpoint or exporters were configured). */
  readonly tracing: boolean;
  /** URL of the Prometheus endpoint, when one was started. */
  readonly metricsUrl: string | undefined;
  /** Exports spans that ended but are still buffered. */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting, closes the metrics endpoint and unregisters the global providers. Idempotent. */
  shutdown(): Promise<void>;
}

let active: Telemetry | undefined;

/**
 * Sets up tracing, metrics and propagation for this process (see the module comment). Only one
 * instance may be active at a time: a second call before `shutdown()` throws ConfigError.
 */
export async function initTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { serviceName } = options;
  if (typeof serviceName !== "string" || serviceName.trim() === "") {
    throw new InvalidArgumentError("serviceName", "must be a non-empty service name");
  }
  const sampleRatio = options.sampleRatio ?? 1;
  if (typeof sampleRatio !== "number" || !(sampleRatio >= 0 && sampleRatio <= 1)) {
    throw new InvalidArgumentError("sampleRatio", `must be a number in [0, 1], got ${String(sampleRatio)}`);
  }
  const tracesUrl = options.otlpEndpoint === undefined ? undefined : otlpTracesUrl(options.otlpEndpoint);
  const prom = options.prometheus;
  if (prom !== undefined && !(Number.isInteger(prom.port) && prom.port >= 0 && prom.port <= 65535)) {
    throw new InvalidArgumentError("prometheus.port", `must be an integer in [0, 65535], got ${String(prom.port)}`);
  }
  if (active !== undefined) {
    throw new ConfigError("initTelemetry: telemetry is already initialised in this process; call shutdown() first");
  }

  const logger = options.logger;
  if (logger !== undefined) {
    diag.setLogger(
      {
        error: (msg, ...args) => logger.error({ otel: args }, `opentelemetry: ${msg}`),
        warn: (msg, ...args) => logger.warn({ otel: args }, `opentelemetry: ${msg}`),
        info: (msg, ...args) => logger.debug({ otel: args }, `opentelemetry: ${msg}`),
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
  }

  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );

  const resource = defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: serviceName,
      ...(options.serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: options.serviceVersion }),
      ...options.resourceAttributes,
    }),
  );

  const processors: SpanProcessor[] = [];
  if (tracesUrl !== undefined) {
    const exporter = new OTLPTraceExporter({ url: tracesUrl, headers: options.otlpHeaders ?? {} });
    processors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: 1000 }));
  }
  for (const exporter of options.spanExporters ?? []) processors.push(new SimpleSpanProcessor({ exporter }));

  let tracerProvider: TracerProvider | undefined;
  if (processors.length > 0) {
    const root: Sampler = sampleRatio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(sampleRatio);
    tracerProvider = new TracerProvider({
      resource,
      sampler: new ParentBasedSampler({ root }),
      spanProcessors: processors,
    });
    trace.setGlobalTracerProvider(tracerProvider);
  }

  let meterProvider: MeterProvider | undefined;
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  if (prom !== undefined) {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ resource, readers: [exporter] });
    metrics.setGlobalMeterProvider(meterProvider);
    const host = prom.host ?? "0.0.0.0";
    const srv = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method === "GET" && path === "/metrics") exporter.getMetricsRequestHandler(req, res);
      else {
        res.statusCode = 404;
        res.end("not found: metrics are served at GET /metrics\n");
      }
    });
    server = srv;
    try {
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(prom.port, host, () => resolve());
      });
    } catch (err) {
      await meterProvider.shutdown().catch(() => {});
      await tracerProvider?.shutdown().catch(() => {});
      disableGlobals();
      throw new ConfigError(`initTelemetry: cannot serve metrics on ${host}:${prom.port}: ${errorText(err)}`, {
        cause: err,
      });
    }
    const port = (srv.address() as AddressInfo).port;
    const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
    metricsUrl = `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}/metrics`;
  }

  logger?.info(
    { otlpTracesUrl: tracesUrl ?? null, sampleRatio, metricsUrl: metricsUrl ?? null },
    tracesUrl === undefined ? "telemetry: no OTLP endpoint, traces are not exported" : "telemetry: exporting traces",
  );

  let stopped: Promise<void> | undefined;
  const telemetry: Telemetry = {
    tracing: tracerProvider !== undefined,
    metricsUrl,
    async forceFlush() {
      await Promise.all([tracerProvider?.forceFlush(), meterProvider?.forceFlush()]);
    },
    shutdown() {
      stopped ??= (async () => {
        const results = await Promise.allSettled([
          tracerProvider?.shutdown(),
          meterProvider?.shutdown(),
          server === undefined
            ? undefined
            : new Promise<void>((resolve) => {
                server?.close(() => resolve());
                server?.closeAllConnections();
              }),
        ]);
        if (active === telemetry) active = undefined;
        disableGlobals();
        contextManager.disable();
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed.length > 0) {
          logger?.warn({ errors: failed.map((f) => errorText(f.reason)) }, "telemetry: shutdown had errors");
        }
      })();
      return stopped;
    },
  };
  active = telemetry;
  return telemetry;
}

/** `${endpoint}/v1/traces`, unless the endpoint already is a traces URL. */
export function otlpTracesUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (err) {
    throw new InvalidArgumentError("otlpEndpoint", `${JSON.stringify(endpoint)} is not an absolute URL`, {
      cause: err,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgumentError("otlpEndpoint", `must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }
  const base = url.toString().replace(/\/+$/, "");
  return base.endsWith("/v1/traces") ? base : `${base}/v1/traces`;
}

function disableGlobals(): void {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
  diag.disable();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
