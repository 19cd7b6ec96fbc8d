// Feeds every model's controller with what the agent measures (bandwidth, battery) and what operators set (config
// and live policies), and logs every switch as one JSON line with its reason.
import { mergePolicies, type Objective } from '@cleave/proto';
import type { BandwidthEstimator } from '../adapt/bandwidth-estimator.js';
import { MAINS_POWER, type PowerState } from '../adapt/battery-monitor.js';
import {
  type ControlInputs,
  type ControlSettings,
  createModelController,
  type Decision,
  type LiveCostStatus,
  type ModelController,
  type SwitchEvent,
} from '../adapt/model-controller.js';
import { objectiveForPower } from '../adapt/objective-policy.js';
import type { SwitchRecord } from '../agent-types.js';
import type { AgentLogger } from '../bundle/bundle-manager.js';
import type { LoadedBundle } from '../bundle/loaded-bundle.js';
import type { EdgeConfig } from '../config/edge-config-schema.js';
import type { PolicyLayers } from '../policy/policy-watch.js';
import { exitsMayAnswer } from '../runtime/final-outputs.js';
import type { InferResult } from '../runtime/inference-pipeline.js';

/** Switches kept per model for the status endpoint. */
const SWITCH_HISTORY = 20;

/** What {@link createControlLoop} needs. */
export interface ControlLoopDeps {
  readonly config: EdgeConfig;
  readonly logger: AgentLogger;
  readonly estimator: BandwidthEstimator;
  readonly now: () => number;
  /** The connected NATS server's max_payload, undefined while not connected. */
  readonly maxPayloadBytes?: () => number | undefined;
  readonly onSwitch?: (event: SwitchEvent) => void;
}

/** The controllers of all models and what drives them. */
export interface ControlLoop {
  /** A bundle became current: its controller follows it (created for the first bundle of a model). */
  onBundle(bundle: LoadedBundle): void;
  /** The split the next decision for `bundle` would use: warm it before swapping the bundle in. */
  previewSplit(bundle: LoadedBundle): string;
  setPolicies(layers: PolicyLayers): void;
  setPower(state: PowerState): void;
  /** Re-evaluates every controller. */
  tick(): void;
  /** The decision for a request on `bundle`: the current one, or a fresh one if the bundle is not current yet. */
  decisionFor(bundle: LoadedBundle): Decision;
  deadlineMs(model: string): number;
  /** Feeds the live estimates with what an answered request on `bundle` measured. */
  observe(bundle: LoadedBundle, result: InferResult): void;
  power(): PowerState;
  batteryObjective(): Objective;
  status(model: string): {
    decision: Decision | null;
    settings: ControlSettings | null;
    switches: SwitchRecord[];
    switchCount: number;
    liveCosts: LiveCostStatus | null;
  };
}

/** Creates the loop; controllers appear as bundles load. */
export function createControlLoop(deps: ControlLoopDeps): ControlLoop {
  const { config, logger, estimator, now } = deps;
  const controllers = new Map<string, ModelController>();
  const bundles = new Map<string, LoadedBundle>();
  const history = new Map<string, SwitchRecord[]>();
  const switchCounts = new Map<string, number>();
  let layers: PolicyLayers = { fleet: undefined, agent: undefined };
  let power: PowerState = MAINS_POWER;
  let objective: Objective = 'latency';

  function settingsFor(model: string): ControlSettings {
    const base = config.models.find((m) => m.id === model);
    const live = mergePolicies(model, layers.fleet, layers.agent);
    const pin = live.split === null ? undefined : (live.split ?? base?.pin);
    const codec = live.codec ?? base?.codec;
    const budgetPoints = live.budgetPoints ?? config.policy.budgetPoints;
    return {
      objective: live.objective ?? base?.objective ?? 'auto',
      ...(pin === undefined ? {} : { pin }),
      ...(codec === undefined ? {} : { codec }),
      codecs: live.codecs ?? config.policy.codecs,
      ...(budgetPoints === undefined ? {} : { budgetPoints }),
      ...(live.floorAccuracy === undefined ? {} : { floorAccuracy: live.floorAccuracy }),
      floorMarginPoints: config.policy.floorMarginPoints,
      holdMs: config.control.holdMs,
      bandMargin: config.control.bandMargin,
      ...(config.control.live.enabled ? { live: config.control.live } : {}),
    };
  }

  function inputs(): ControlInputs {
    const at = now();
    const level = power.level === undefined ? 'no battery' : `battery ${Math.round(power.level * 100)}%`;
    const maxPayloadBytes = deps.maxPayloadBytes?.();
    return {
      ...(maxPayloadBytes === undefined ? {} : { maxPayloadBytes }),
      now: at,
      mbps: estimator.estimate(at).mbps ?? config.control.initialMbps,
      batteryObjective: objective,
      batteryReason: power.onMains ? `mains power, ${level}` : `${level} discharging`,
    };
  }

  function apply(model: string, event: SwitchEvent | undefined): void {
    if (event === undefined) return;
    const { from, to } = event;
    logger.info(
      {
        event: 'switch',
        model,
        version: to.version,
        from: from === undefined ? null : pick(from),
        to: pick(to),
        mbps: Number(to.mbps.toFixed(3)),
        reason: event.reason,
      },
      'policy switch',
    );
    const records = history.get(model) ?? [];
    records.push({
      at: new Date().toISOString(),
      from: from === undefined ? null : `${from.split}/${from.codec}/${from.objective}/${from.budgetPoints}`,
      to: `${to.split}/${to.codec}/${to.objective}/${to.budgetPoints}`,
      reason: event.reason,
    });
    history.set(model, records.slice(-SWITCH_HISTORY));
    switchCounts.set(model, (switchCounts.get(model) ?? 0) + 1);
    deps.onSwitch?.(event);
    // The new split's sessions load in the background; requests that arrive first wait for them.
    const bundle = bundles.get(model);
    if (bundle !== undefined && bundle.version === to.version) {
      bundle.prepare(to.split).catch((error: unknown) => {
        logger.warn({ model, split: to.split, err: (error as Error).message }, 'could not prepare the new split');
      });
    }
  }

  function tick(): void {
    const current = inputs();
    for (const [model, controller] of controllers) apply(model, controller.update(current));
  }

  return {
    onBundle(bundle) {
      bundles.set(bundle.model, bundle);
      const existing = controllers.get(bundle.model);
      if (existing === undefined)
        controllers.set(bundle.model, createModelController(bundle.manifest, settingsFor(bundle.model)));
      else existing.setManifest(bundle.manifest);
      apply(bundle.model, controllers.get(bundle.model)!.update(inputs()));
    },
    previewSplit(bundle) {
      const controller =
        controllers.get(bundle.model) ?? createModelController(bundle.manifest, settingsFor(bundle.model));
      return controller.preview(bundle.manifest, inputs()).split;
    },
    setPolicies(next) {
      layers = next;
      for (const [model, controller] of controllers) controller.setSettings(settingsFor(model));
      tick();
    },
    setPower(state) {
      power = state;
      objective = objectiveForPower(state, config.battery, objective);
      tick();
    },
    tick,
    decisionFor(bundle) {
      const controller = controllers.get(bundle.model);
      const current = controller?.current();
      if (current !== undefined && current.version === bundle.version) return current;
      const fresh = controller ?? createModelController(bundle.manifest, settingsFor(bundle.model));
      return fresh.preview(bundle.manifest, inputs());
    },
    deadlineMs(model) {
      return mergePolicies(model, layers.fleet, layers.agent).deadlineMs ?? config.policy.deadlineMs;
    },
    observe(bundle, result) {
      const controller = controllers.get(bundle.model);
      if (controller === undefined) return;
      const candidate = bundle.candidate(result.split);
      const canExit =
        candidate.kind === 'split' && (candidate.exits ?? []).length > 0 && exitsMayAnswer(bundle.manifest);
      const t = result.timings;
      controller.observe(result.version, {
        split: result.split,
        at: now(),
        ...(candidate.kind === 'cloud-only' ? {} : { headMs: t.headMs }),
        ...(t.tailMs > 0 ? { edgeTailMs: t.tailMs } : {}),
        ...(result.ranOn === 'cloud' ? { cloud: { queueMs: t.cloudQueueMs, processingMs: t.cloudMs } } : {}),
        ...(canExit ? { exited: result.exit !== null } : {}),
      });
    },
    power: () => power,
    batteryObjective: () => objective,
    status(model) {
      const controller = controllers.get(model);
      return {
        decision: controller?.current() ?? null,
        settings: controller?.settings() ?? null,
        switches: [...(history.get(model) ?? [])],
        switchCount: switchCounts.get(model) ?? 0,
        liveCosts: controller?.live(inputs()) ?? null,
      };
    },
  };
}

function pick(d: Decision) {
  return { split: d.split, codec: d.codec, objective: d.objective, budgetPoints: d.budgetPoints };
}
