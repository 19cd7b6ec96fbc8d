// The package layout holds: the edge agent's production install carries no cloud service, partitioner, console or
// @nats-io/services (read from npm's own view of the tree), and the lint rules that keep it that way fail on
// fixtures that cross a boundary, statically or with a dynamic import.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@cleave/cli';

const run = promisify(execFile);

interface NpmTree {
  readonly dependencies?: Readonly<Record<string, NpmTree>>;
}

/** Every package name in the production dependency tree of one workspace, as `npm ls` reports it. */
async function productionTree(workspace: string): Promise<Set<string>> {
  const { stdout } = await run('npm', ['ls', '--workspace', workspace, '--omit', 'dev', '--all', '--json'], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  const names = new Set<string>();
  const walk = (node: NpmTree) => {
    for (const [name, child] of Object.entries(node.dependencies ?? {})) {
      names.add(name);
      walk(child);
    }
  };
  walk(JSON.parse(stdout) as NpmTree);
  return names;
}

// Only the two boundary rules run, so the fixtures need no TypeScript program (they are not files on disk).
const BOUNDARY_RULES = new Set(['no-restricted-imports', 'import-x/no-extraneous-dependencies']);
const eslint = new ESLint({
  cwd: REPO_ROOT,
  overrideConfig: [
    { files: ['**/*.ts'], languageOptions: { parserOptions: { project: null, projectService: false } } },
  ],
  ruleFilter: ({ ruleId }) => BOUNDARY_RULES.has(ruleId),
});

async function boundaryErrors(packageDir: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, packageDir, 'src', 'boundary-fixture.ts') });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('package boundaries', () => {
  it('the edge agent installs without the cloud service, the partitioner, the console or @nats-io/services', async () => {
    const edge = await productionTree('@cleave/edge-agent');
    expect(edge).toContain('@cleave/node-runtime');
    expect(edge).toContain('onnxruntime-node');
    for (const forbidden of ['@cleave/cloud-service', '@cleave/partitioner', '@cleave/console', '@cleave/cli']) {
      expect(edge, forbidden).not.toContain(forbidden);
    }
    for (const forbidden of ['@nats-io/services', 'chart.js', 'onnx-buf', 'cli-progress']) {
      expect(edge, forbidden).not.toContain(forbidden);
    }
  }, 60_000);

  it('the cloud service installs without the edge agent, the partitioner or the console', async () => {
    const cloud = await productionTree('@cleave/cloud-service');
    for (const forbidden of ['@cleave/edge-agent', '@cleave/partitioner', '@cleave/console', 'chart.js']) {
      expect(cloud, forbidden).not.toContain(forbidden);
    }
  }, 60_000);

  it.each([
    ['edge-agent', "import { startCloudReplica } from '@cleave/cloud-service';\nexport const x = startCloudReplica;\n"],
    [
      'edge-agent',
      "import { defineConsoleCommand } from '@cleave/console/cli';\nexport const x = defineConsoleCommand;\n",
    ],
    ['edge-agent', "import { Svcm } from '@nats-io/services';\nexport const x = Svcm;\n"],
    ['cloud-service', "import { createEdgeAgent } from '@cleave/edge-agent';\nexport const x = createEdgeAgent;\n"],
    [
      'node-runtime',
      "import { createTailService } from '@cleave/cloud-service';\nexport const x = createTailService;\n",
    ],
    ['proto', "import { readFile } from 'node:fs/promises';\nexport const x = readFile;\n"],
  ])('lint refuses %s importing across the boundary: %j', async (packageDir, code) => {
    const errors = await boundaryErrors(packageDir, code);
    expect(
      errors.some((e) => e.startsWith('no-restricted-imports:')),
      errors.join('\n'),
    ).toBe(true);
  });

  it('lint refuses an undeclared dependency, even behind a dynamic import', async () => {
    const errors = await boundaryErrors('edge-agent', "export const load = () => import('@cleave/partitioner');\n");
    expect(errors).toEqual([expect.stringMatching(/^import-x\/no-extraneous-dependencies: '@cleave\/partitioner'/)]);
  });

  it('lint accepts what the edge agent declares', async () => {
    const code =
      "import { sha256Hex } from '@cleave/node-runtime';\nimport ort from 'onnxruntime-node';\nexport const x = [sha256Hex, ort];\n";
    expect(await boundaryErrors('edge-agent', code)).toEqual([]);
  });
});
