// The console's /metrics: alerts as Prometheus gauges, rendered as text exposition format 0.0.4. Written by hand
// rather than through an OpenTelemetry SDK: a handful of gauges whose label sets come and go with each snapshot
// (an SDK's observable gauge would need the same bookkeeping), and the console carries no SDK today.
import type { AlertState } from './alert-tracker.js';

/** Content type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Escapes a label value: backslash, double quote and newline. */
function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Readonly<Record<string, string>>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${labelValue(v)}"`)
    .join(',')}}`;
}

/** What /metrics shows besides the alerts. */
export interface ConsoleGauges {
  readonly agents: number;
  readonly staleAgents: number;
  readonly replicas: number;
  /** When the alerts were last evaluated (epoch ms), 0 before the first time. */
  readonly evaluatedAt: number;
  /** Evaluations that failed (NATS unreachable...), since start. */
  readonly evaluationFailures: number;
}

/**
 * `cleave_console_alerts{alert,agent,model,replica,severity}`: 1 while raised, 0 for a while after it cleared;
 * `cleave_console_alert_raised_timestamp_seconds`: when each was raised; plus fleet counts and the evaluator's health.
 */
export function renderConsoleMetrics(state: AlertState, gauges: ConsoleGauges): string {
  const lines: string[] = [
    '# HELP cleave_console_alerts Alerts the console evaluates from heartbeats and $SRV: 1 raised, 0 cleared recently.',
    '# TYPE cleave_console_alerts gauge',
  ];
  const all = [...state.active.map((a) => ({ a, value: 1 })), ...state.cleared.map((a) => ({ a, value: 0 }))];
  const labelsOf = (a: (typeof all)[number]['a']) =>
    labels({
      alert: a.alert,
      agent: a.agent ?? '',
      model: a.model ?? '',
      replica: a.replica ?? '',
      severity: a.severity,
    });
  for (const { a, value } of all) lines.push(`cleave_console_alerts${labelsOf(a)} ${value}`);
  lines.push(
    '# HELP cleave_console_alert_raised_timestamp_seconds When each alert still raised was raised.',
    '# TYPE cleave_console_alert_raised_timestamp_seconds gauge',
  );
  for (const a of state.active)
    lines.push(`cleave_console_alert_raised_timestamp_seconds${labelsOf(a)} ${a.raisedAt / 1000}`);
  lines.push(
    '# HELP cleave_console_agents Agents with a heartbeat in the KV bucket, by whether they are stale.',
    '# TYPE cleave_console_agents gauge',
    `cleave_console_agents{stale="false"} ${gauges.agents - gauges.staleAgents}`,
    `cleave_console_agents{stale="true"} ${gauges.staleAgents}`,
    '# HELP cleave_console_replicas Tail replicas answering $SRV.',
    '# TYPE cleave_console_replicas gauge',
    `cleave_console_replicas ${gauges.replicas}`,
    '# HELP cleave_console_alerts_evaluated_timestamp_seconds When the alerts were last evaluated.',
    '# TYPE cleave_console_alerts_evaluated_timestamp_seconds gauge',
    `cleave_console_alerts_evaluated_timestamp_seconds ${gauges.evaluatedAt / 1000}`,
    '# HELP cleave_console_alert_evaluation_failures_total Alert evaluations that could not read NATS.',
    '# TYPE cleave_console_alert_evaluation_failures_total counter',
    `cleave_console_alert_evaluation_failures_total ${gauges.evaluationFailures}`,
  );
  return `${lines.join('\n')}\n`;
}
