// Chooses, per model, the split, the codec and the exit operating point for the next requests.
//
// Changes of objective, operating point, policy or bundle apply at once: they are already slow, deliberate
// events. Changes driven by bandwidth go through hysteresis: the estimate must leave the current plan range by
// `bandMargin`, and the new choice must stay the best for `holdMs`, before the agent switches.
//
// Once the agent has measured its own requests (settings.live), the plan table gives way to a live re-ranking of
// the bundle's candidates with the same cost model (live-costs.ts, live-ranking.ts): a new option must beat the
// one in use by `live.margin` for `live.dwellMs`, and the one in use must have served that long, so it does not
// flap. The live ranking sees the bandwidth estimate too, so it replaces the plan's bandwidth ranges.
import type { BundleManifest, Codec, Objective, ObjectiveMode, SplitCandidate, TailPlacement } from '@cleave/proto';
import { exitsMayAnswer } from '../runtime/final-outputs.js';
import { chooseOperatingPoint } from './objective-policy.js';
import { createLiveCosts, type CostObservation, type LiveCostSettings, type LiveCostView } from './live-costs.js';
import { type LiveOption, liveVerdict, rankLive } from './live-ranking.js';
import { bestFitting, fitsPayload, payloadSizes } from './payload-fit.js';
import { formatRange, isOutsideBand, lookupPlanRange, planObjective } from './plan-lookup.js';

/** What the controller is told to respect, from config and live policy. */
export interface ControlSettings {
  readonly objective: ObjectiveMode;
  /** A pinned split candidate id. */
  readonly pin?: string;
  /** A forced codec. */
  readonly codec?: Codec;
  /** Allowed codecs, preferred first. */
  readonly codecs: readonly Codec[];
  readonly budgetPoints?: number;
  readonly floorAccuracy?: number;
  readonly floorMarginPoints: number;
  readonly holdMs: number;
  readonly bandMargin: number;
  /** Re-rank with live estimates once measured; absent keeps to the plan table. */
  readonly live?: LiveCostSettings;
}

/** The measurements a decision is made from. */
export interface ControlInputs {
  readonly now: number;
  readonly mbps: number;
  /** The objective the battery asks for (used in `auto` mode). */
  readonly batteryObjective: Objective;
  /** Why the battery asks for it, e.g. `battery 15% discharging`, for switch logs. */
  readonly batteryReason: string;
  /**
   * The largest message the connected NATS server accepts (its max_payload); undefined while not connected. No
   * option whose request or reply exceeds it is chosen.
   */
  readonly maxPayloadBytes?: number;
}

/** How the next requests of a model run. */
export interface Decision {
  readonly model: string;
  readonly version: string;
  readonly split: string;
  readonly kind: SplitCandidate['kind'];
  readonly codec: Codec;
  /**
   * Where the tail runs when no exit answers: `cloud` (offload the cut, fall back locally on failure) or `edge`
   * (the plan found staged execution on the device cheaper: nothing is sent).
   */
  readonly tailOn: TailPlacement;
  /** The plan objective in use. */
  readonly objective: Objective;
  readonly budgetPoints: number;
  /** Exit thresholds of the operating point; null = never exit there. */
  readonly thresholds: Readonly<Record<string, number | null>>;
  readonly expectedExitRate: number;
  readonly expectedAccuracy: number;
  /** The plan range the split came from, or null when pinned. */
  readonly range: { readonly minMbps: number; readonly maxMbps: number | null } | null;
  readonly pinned: boolean;
  /** What chose the option: the plan table, the live re-ranking, or a pin. @default 'plan' */
  readonly chosenBy?: 'plan' | 'live-costs' | 'pin';
  /** The live cost model's estimate of the option when it was chosen by live costs. */
  readonly liveEstimate?: { readonly latencyMs: number; readonly edgeJoules: number };
  /** Bandwidth estimate when decided. */
  readonly mbps: number;
  readonly since: number;
}

/** One change of decision, logged as a JSON line with its reason. */
export interface SwitchEvent {
  readonly model: string;
  readonly from: Decision | undefined;
  readonly to: Decision;
  readonly reason: string;
}

/** The per-model controller. */
export interface ModelController {
  /** Re-evaluates; returns the switch it made, if any. */
  update(inputs: ControlInputs): SwitchEvent | undefined;
  /** A new bundle version: the next update switches at once. */
  setManifest(manifest: BundleManifest): void;
  /** The decision `manifest` would get now, without switching: what to warm up before a hot swap. */
  preview(manifest: BundleManifest, inputs: ControlInputs): Decision;
  /** New settings (live policy): the next update switches at once if anything changes. */
  setSettings(settings: ControlSettings): void;
  current(): Decision | undefined;
  /** Settings in force, for status output. */
  settings(): ControlSettings;
  /** Records what one request on `version` measured. */
  observe(version: string, observation: CostObservation): void;
  /** The live estimates and ranking, for status output; null while live re-costing is off. */
  live(inputs: ControlInputs): LiveCostStatus | null;
}

/** The live estimates of a model and the options they rank, best first (`/v1/status`). */
export interface LiveCostStatus extends Omit<LiveCostView, 'candidates'> {
  readonly ranking: readonly LiveOption[];
}

/** Used for the estimates while `settings.live` is absent, so they are ready when it is set. */
const IDLE_LIVE_SETTINGS: LiveCostSettings = { minSamples: 5, alpha: 0.1, staleMs: 10_000, margin: 0.1, dwellMs: 500 };

/** A choice that replaces the plan's lookup (made by the live ranking). */
type Choice = Pick<LiveOption, 'candidate' | 'codec' | 'tailOn' | 'latencyMs' | 'edgeJoules'>;

/** Creates a controller for one model, starting from `manifest`. */
export function createModelController(initial: BundleManifest, initialSettings: ControlSettings): ModelController {
  let manifest = initial;
  let settings = initialSettings;
  let decision: Decision | undefined;
  let pending: { key: string; since: number } | undefined;
  let forced: string | undefined = 'initial decision';
  const liveCosts = createLiveCosts(initial, initialSettings.live ?? IDLE_LIVE_SETTINGS);

  function desiredFor(
    inputs: ControlInputs,
    source: BundleManifest,
    choice?: Choice,
  ): { decision: Decision; notes: string[] } {
    const notes: string[] = [];
    const asked = settings.objective === 'auto' ? inputs.batteryObjective : settings.objective;
    const objective = planObjective(source.plan, asked);
    if (objective !== asked) notes.push(`plan has no ${asked} objective; using ${objective}`);
    const point =
      source.exitPolicy === undefined
        ? undefined
        : chooseOperatingPoint(source.exitPolicy, asked, {
            floorMarginPoints: settings.floorMarginPoints,
            ...(settings.budgetPoints === undefined ? {} : { basePoints: settings.budgetPoints }),
            ...(settings.floorAccuracy === undefined ? {} : { floorAccuracy: settings.floorAccuracy }),
          }).point;
    let candidate: SplitCandidate | undefined;
    let codec: Codec;
    let tailOn: TailPlacement = 'cloud';
    let range: Decision['range'] = null;
    const pinned = settings.pin === undefined ? undefined : source.candidates.find((c) => c.id === settings.pin);
    if (settings.pin !== undefined && pinned === undefined) {
      notes.push(`pinned split ${settings.pin} is not in bundle ${source.version}; following the plan`);
    }
    if (pinned !== undefined) {
      candidate = pinned;
      codec = settings.codec ?? settings.codecs[0]!;
    } else if (choice !== undefined) {
      candidate = source.candidates.find((c) => c.id === choice.candidate) ?? edgeOnlyOf(source);
      codec = choice.codec;
      if (choice.tailOn === 'edge' && candidate.kind === 'split') tailOn = 'edge';
    } else {
      const planned = lookupPlanRange(source.plan, objective, inputs.mbps);
      candidate = source.candidates.find((c) => c.id === planned?.candidate) ?? edgeOnlyOf(source);
      const allowed = planned !== undefined && settings.codecs.includes(planned.codec);
      codec = settings.codec ?? (allowed ? planned.codec : settings.codecs[0]!);
      range = planned === undefined ? null : { minMbps: planned.minMbps, maxMbps: planned.maxMbps };
      if (planned?.tailOn === 'edge' && candidate.kind === 'split') tailOn = 'edge';
    }
    const limit = inputs.maxPayloadBytes;
    if (limit !== undefined && tailOn === 'cloud' && !fitsPayload(candidate, codec, limit)) {
      const sizes = payloadSizes(candidate, codec);
      const why = `${candidate.id}/${codec} sends ${sizes.request} bytes and gets ${sizes.reply} back per sample, over the server's max_payload of ${limit}`;
      // Another allowed codec of the same candidate first (the forced one is only a preference against the limit),
      // then the best option that fits; a pinned split that fits in no codec runs its tail here.
      const codecs = [...new Set([...(settings.codec === undefined ? [] : [settings.codec]), ...settings.codecs])];
      const sameCandidate = codecs.find((k) => fitsPayload(candidate!, k, limit));
      if (sameCandidate !== undefined) {
        notes.push(`${why}; using ${sameCandidate}`);
        codec = sameCandidate;
      } else if (pinned !== undefined) {
        notes.push(`${why} in every allowed codec; the pinned split's tail runs on the edge`);
        tailOn = 'edge';
      } else {
        const best = bestFitting(source, inputs.mbps, objective, limit, settings.codecs, exitsMayAnswer(source));
        const next = source.candidates.find((c) => c.id === best?.candidate) ?? edgeOnlyOf(source);
        candidate = next;
        codec = best?.codec ?? codec;
        tailOn = best?.tailOn ?? 'cloud';
        notes.push(`${why}; re-ranked within it: ${next.id}${tailOn === 'edge' ? '/edge-tail' : `/${codec}`}`);
      }
    }
    return {
      notes,
      decision: {
        model: source.model.id,
        version: source.version,
        split: candidate.id,
        kind: candidate.kind,
        codec,
        tailOn,
        objective,
        budgetPoints: point?.budgetPoints ?? 0,
        thresholds: point?.thresholds ?? {},
        // A model with several final outputs runs them all: no exit answers, whatever the thresholds say.
        expectedExitRate: candidate.kind === 'split' && exitsMayAnswer(source) ? (point?.exitRate ?? 0) : 0,
        expectedAccuracy: point?.accuracy ?? source.exitPolicy?.finalAccuracy ?? 1,
        range,
        pinned: pinned !== undefined,
        chosenBy: pinned !== undefined ? 'pin' : choice !== undefined ? 'live-costs' : 'plan',
        ...(choice === undefined || pinned !== undefined
          ? {}
          : { liveEstimate: { latencyMs: choice.latencyMs, edgeJoules: choice.edgeJoules } }),
        mbps: inputs.mbps,
        since: inputs.now,
      },
    };
  }

  function commit(to: Decision, reason: string): SwitchEvent {
    const event: SwitchEvent = { model: to.model, from: decision, to, reason };
    decision = to;
    pending = undefined;
    forced = undefined;
    return event;
  }

  function update(inputs: ControlInputs): SwitchEvent | undefined {
    const { decision: desired, notes } = desiredFor(inputs, manifest);
    const current = decision;
    const suffix = notes.length > 0 ? ` (${notes.join('; ')})` : '';
    if (current === undefined || forced !== undefined) {
      return commit(desired, `${forced ?? 'initial decision'}: ${describe(desired)}${suffix}`);
    }
    const why = structuralChange(current, desired, inputs, settings) ?? payloadChange(current, desired, inputs);
    if (why !== undefined) return commit(desired, `${why}${suffix}`);
    if (settings.live !== undefined && !current.pinned) {
      const view = liveCosts.view(inputs.now);
      if (view.informed && view.version === manifest.version) return liveUpdate(current, desired, view, inputs);
    }
    if (optionOf(desired) === optionOf(current)) {
      pending = undefined;
      return undefined;
    }
    // Bandwidth moved the plan's choice. Act only when clearly out of the current range and for long enough.
    if (current.range !== null && !isOutsideBand(current.range, inputs.mbps, settings.bandMargin)) {
      pending = undefined;
      return undefined;
    }
    const key = optionOf(desired);
    if (pending?.key !== key) {
      pending = { key, since: inputs.now };
      if (settings.holdMs > 0) return undefined;
    }
    if (inputs.now - pending.since < settings.holdMs) return undefined;
    const left = current.range === null ? 'the plan' : formatRange(current.range);
    const into = desired.range === null ? 'the plan' : formatRange(desired.range);
    return commit(
      desired,
      `bandwidth ${inputs.mbps.toFixed(2)} Mbps left ${left} for ${into} of the ${desired.objective} plan: ` +
        `${optionOf(current)} → ${optionOf(desired)}${suffix}`,
    );
  }

  function rankNow(view: LiveCostView, objective: Objective, inputs: ControlInputs): LiveOption[] {
    return rankLive(manifest, view, {
      mbps: inputs.mbps,
      objective,
      codecs: settings.codec === undefined ? settings.codecs : [settings.codec],
      ...(inputs.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: inputs.maxPayloadBytes }),
    });
  }

  // The live ranking decides: switch when its best beats the option in use by the margin for the dwell time.
  function liveUpdate(
    current: Decision,
    planned: Decision,
    view: LiveCostView,
    inputs: ControlInputs,
  ): SwitchEvent | undefined {
    const live = settings.live!;
    const verdict = liveVerdict(rankNow(view, planned.objective, inputs), optionOf(current), live.margin);
    if (!verdict.better || verdict.best === undefined) {
      pending = undefined;
      return undefined;
    }
    // The dwell times how long the current option has been beaten by the margin, not how long one challenger has
    // led: near-equal challengers (two codecs of one split) trade first place from one update to the next, and a
    // dwell per challenger never ended (a halved edge quota left an option 41% worse in use for 15 s).
    const key = 'live';
    if (pending?.key !== key) pending = { key, since: inputs.now };
    if (inputs.now - pending.since < live.dwellMs || inputs.now - current.since < live.dwellMs) return undefined;
    const { decision: to, notes } = desiredFor(inputs, manifest, verdict.best);
    const was = verdict.current === undefined ? 'infeasible' : `${verdict.current.latencyMs.toFixed(2)} ms`;
    const r = view.ratios;
    const fmt = (x: number | null, digits = 2) => (x === null ? 'unmeasured' : x.toFixed(digits));
    return commit(
      to,
      `live costs at ${inputs.mbps.toFixed(2)} Mbps (edge ×${fmt(r.edge)} of profile, cloud ×${fmt(r.cloud)}, ` +
        `queue ${fmt(r.queueMs)} ms, exit rate ×${fmt(r.exit)}): ${optionOf(current)} ${was} → ` +
        `${verdict.best.option} ${verdict.best.latencyMs.toFixed(2)} ms of the ${planned.objective} objective` +
        (notes.length > 0 ? ` (${notes.join('; ')})` : ''),
    );
  }

  // The option in use no longer fits the server's max_payload (a reconnect to a stricter server): switch at once,
  // without waiting out the bandwidth hysteresis, since every offload on it would fail.
  function payloadChange(current: Decision, desired: Decision, inputs: ControlInputs): string | undefined {
    const limit = inputs.maxPayloadBytes;
    if (limit === undefined || current.tailOn === 'edge' || optionOf(current) === optionOf(desired)) return undefined;
    const candidate = manifest.candidates.find((c) => c.id === current.split);
    if (candidate === undefined || fitsPayload(candidate, current.codec, limit)) return undefined;
    return `${optionOf(current)} does not fit the server's max_payload of ${limit} bytes: ${describe(desired)}`;
  }

  return {
    update,
    preview: (other, inputs) => desiredFor(inputs, other).decision,
    setManifest(next) {
      if (next.version !== manifest.version) {
        forced = `bundle ${manifest.version} → ${next.version}`;
        liveCosts.reset(next);
      }
      manifest = next;
    },
    setSettings(next) {
      if (JSON.stringify(next) !== JSON.stringify(settings)) forced = 'policy changed';
      settings = next;
    },
    current: () => decision,
    settings: () => settings,
    observe: (version, observation) => liveCosts.observe(version, observation),
    live(inputs) {
      if (settings.live === undefined) return null;
      const view = liveCosts.view(inputs.now);
      const objective = decision?.objective ?? planObjective(manifest.plan, inputs.batteryObjective);
      return {
        version: view.version,
        informed: view.informed,
        ratios: view.ratios,
        status: view.status,
        ranking: rankNow(view, objective, inputs),
      };
    },
  };
}

function structuralChange(
  current: Decision,
  desired: Decision,
  inputs: ControlInputs,
  settings: ControlSettings,
): string | undefined {
  if (current.objective !== desired.objective) {
    const because = settings.objective === 'auto' ? inputs.batteryReason : `configured ${settings.objective}`;
    return (
      `objective ${current.objective} → ${desired.objective} (${because}): exit budget ` +
      `${current.budgetPoints} → ${desired.budgetPoints} points, ${describe(desired)}`
    );
  }
  if (current.budgetPoints !== desired.budgetPoints) {
    return `exit budget ${current.budgetPoints} → ${desired.budgetPoints} points: ${describe(desired)}`;
  }
  if (current.pinned !== desired.pinned) return `pin ${desired.pinned ? 'set' : 'cleared'}: ${describe(desired)}`;
  return undefined;
}

function describe(d: Decision): string {
  const range = d.range === null ? 'pinned' : `plan range ${formatRange(d.range)}`;
  return `${optionOf(d)}, ${d.objective}, ${range}, exit budget ${d.budgetPoints} points`;
}

/** `split-18/f16` (tail in the cloud, cut sent as f16) or `split-09/edge-tail` (staged on the device). */
export function optionOf(d: Pick<Decision, 'split' | 'codec' | 'tailOn'>): string {
  return d.tailOn === 'edge' ? `${d.split}/edge-tail` : `${d.split}/${d.codec}`;
}

function edgeOnlyOf(manifest: BundleManifest): SplitCandidate {
  return manifest.candidates.find((c) => c.kind === 'edge-only') ?? manifest.candidates[0]!;
}
