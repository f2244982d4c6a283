export { DEFAULT_SEED_COUNT, parseRunnerArguments, UsageError, USAGE } from './args.js'
export type { RunnerArguments } from './args.js'
export { LATENCY_BUCKETS_MS, latencyBuckets, renderLatencyHistogramSvg } from './latency-histogram.js'
export type { HistogramBucket } from './latency-histogram.js'
export { main } from './main.js'
export type { RunnerEnvironment } from './main.js'
export { planMatrix, runMatrix } from './matrix.js'
export type { MatrixPlan, PlannedRun, ProtocolOffer, RunMatrixOptions } from './matrix.js'
export { ProgressBar } from './progress.js'
export type { ProgressStream } from './progress.js'
export {
  DEFAULT_PROTOCOLS,
  loadExtras,
  loadFactory,
  protocolCapabilities,
  protocolExtras,
  protocolRegistry,
  ProtocolUnavailableError,
  runnerProtocols,
} from './registry.js'
export type { ProtocolExtras, ProtocolExtrasLoader, ProtocolLoader, ProtocolRegistry, RunnerProtocols } from './registry.js'
export { renderHtmlReport } from './report-html.js'
export type { HtmlReportOptions } from './report-html.js'
export { buildJsonReport, recordToJson } from './report-json.js'
export type { JsonReport, RunRecordJson } from './report-json.js'
export { okLatencies } from './run-result.js'
export type { RunResult } from './run-result.js'
export { describeRunFailure, describeRunFailureBriefly, describeSkipped, formatSummaryTable, median, summarize } from './summary.js'
export type { SummaryRow } from './summary.js'
export { renderTimelineSvg, timelineModel } from './timeline-svg.js'
export type { NodeLanes, Span, TimelineModel } from './timeline-svg.js'
