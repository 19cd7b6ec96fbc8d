// Chooses, per model, the split, the codec and the exit operating point for the next requests.
//
// Changes of objective, operating point, policy or bundle apply at once: they are already slow, deliberate
// events. Changes driven by bandwidth go through hysteresis: the estimate must leave the current plan range by
// `bandMargin`, and the new choice must stay the best for `holdMs`, before the agent switches.
import type { BundleManifest, Codec, Objective, ObjectiveMode, SplitCandidate, TailPlacement } from '@cleave/proto';
import { exitsMayAnswer } from '../runtime/final-outputs.js';
import { chooseOperatingPoint } from './objective-policy.js';
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
}

/** Creates a controller for one model, starting from `manifest`. */
export function createModelController(initial: BundleManifest, initialSettings: ControlSettings): ModelController {
  let manifest = initial;
  let settings = initialSettings;
  let decision: Decision | undefined;
  let pending: { key: string; since: number } | undefined;
  let forced: string | undefined = 'initial decision';

  function desiredFor(inputs: ControlInputs, source: BundleManifest): { decision: Decision; notes: string[] } {
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
      if (next.version !== manifest.version) forced = `bundle ${manifest.version} → ${next.version}`;
      manifest = next;
    },
    setSettings(next) {
      if (JSON.stringify(next) !== JSON.stringify(settings)) forced = 'policy changed';
      settings = next;
    },
    current: () => decision,
    settings: () => settings,
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
