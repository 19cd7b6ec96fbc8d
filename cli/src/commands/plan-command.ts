import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import {
  buildPlan,
  planCandidates,
  rankCandidates,
  readProfile,
  type CandidateKind,
  type CodecBytes,
  type TensorSpec,
} from '@cleave/partitioner';
import {
  type Codec,
  DEFAULT_PLAN_CODECS,
  type Objective,
  OBJECTIVES,
  ObjectiveSchema,
  parseBundleManifest,
} from '@cleave/proto';
import type { CliContext } from '../cli-context.js';
import { parseCodecs, parsePositive, parseRatio } from './partition-command.js';
import { printCostTable, printPlanTable } from './plan-table.js';

interface PlanCommandOptions {
  edgeProfile?: string;
  cloudProfile?: string;
  bandwidth: number[];
  rtt?: number;
  maxPayload?: number;
  downlinkRatio?: number;
  codecs: Codec[];
  objective: Objective;
  top: number;
}

interface ManifestCandidates {
  candidates: {
    id: string;
    kind: CandidateKind;
    bytesPerSample: CodecBytes;
    cutTensors: TensorSpec[];
    exitRate?: number | undefined;
    replyBytesPerSample?: CodecBytes | undefined;
  }[];
  plan: { rttMs: number; maxPayloadBytes: number; downlinkRatio?: number | undefined };
}

function parseBandwidths(value: string): number[] {
  const list = value.split(',').map(Number);
  if (list.length === 0 || list.some((x) => !Number.isFinite(x) || x <= 0)) {
    throw new InvalidArgumentError(`--bandwidth must be comma-separated positive Mbps values, got '${value}'`);
  }
  return list;
}

function parseObjective(value: string): Objective {
  const parsed = ObjectiveSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidArgumentError(`--objective must be one of ${OBJECTIVES.join(', ')}, got '${value}'`);
  }
  return parsed.data;
}

/** Registers `cleave plan`: re-plan a bundle for other profiles or links, and explain the choice. */
export function registerPlanCommand(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description("Re-plan a bundle's candidates for given edge/cloud profiles and link, and show the cost breakdown.")
    .argument('<bundle>', 'bundle directory written by cleave partition')
    .option('--edge-profile <file>', "edge profile (default: the bundle's profiles/edge.json)")
    .option('--cloud-profile <file>', "cloud profile (default: the bundle's profiles/cloud.json)")
    .option('--bandwidth <mbps>', 'uplink bandwidths to explain', parseBandwidths, [0.13, 1.1, 5.85, 18.88, 100])
    .option('--rtt <ms>', "round-trip time (default: the bundle plan's)", parsePositive('rtt'))
    .option(
      '--max-payload <bytes>',
      "largest NATS message (default: the bundle plan's)",
      ctx.parseInteger('max-payload', 1024, 64 * 1024 * 1024),
    )
    .option(
      '--downlink-ratio <x>',
      "downlink Mbps ÷ uplink Mbps, for the time replies take (default: the bundle plan's, else 1)",
      parseRatio,
    )
    .option('--codecs <list>', 'wire codecs the plan may use', parseCodecs, [...DEFAULT_PLAN_CODECS])
    .option(
      '--objective <name>',
      `objective for the cost tables (${OBJECTIVES.join(', ')})`,
      parseObjective,
      'latency' as Objective,
    )
    .option('--top <n>', 'rows per cost table', ctx.parseInteger('top', 1, 1000), 5)
    .action(async (bundle: string, opts: PlanCommandOptions) => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8'));
      } catch (err) {
        throw new Error(`${bundle}: not a bundle directory (cannot read manifest.json: ${(err as Error).message})`, {
          cause: err,
        });
      }
      const manifest: ManifestCandidates = parseBundleManifest(json);
      const edge = await readProfile(opts.edgeProfile ?? join(bundle, 'profiles', 'edge.json'));
      const cloud = await readProfile(opts.cloudProfile ?? join(bundle, 'profiles', 'cloud.json'));
      const candidates = planCandidates(
        manifest.candidates.map((c) => ({
          id: c.id,
          kind: c.kind,
          bytesPerSample: c.bytesPerSample,
          wire: c.cutTensors,
          // The calibrated exit rate is what makes a split with exits worth it; a replan must keep it.
          exitRate: c.exitRate ?? 0,
          // Replies count too: a dense output can cost more than its request, or not fit at all.
          replyBytesPerSample: c.replyBytesPerSample,
        })),
        edge,
        cloud,
      );
      const planCtx = {
        rttMs: opts.rtt ?? manifest.plan.rttMs,
        maxPayloadBytes: opts.maxPayload ?? manifest.plan.maxPayloadBytes,
        downlinkRatio: opts.downlinkRatio ?? manifest.plan.downlinkRatio ?? 1,
        codecs: opts.codecs,
      };
      printPlanTable(buildPlan(candidates, planCtx));
      for (const mbps of opts.bandwidth)
        printCostTable(mbps, rankCandidates(candidates, mbps, opts.objective, planCtx), opts.top);
    });
}
