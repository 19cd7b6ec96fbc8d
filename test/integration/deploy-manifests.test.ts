// The Kubernetes manifests, Helm values and Dockerfiles in deploy/ cannot be applied or built here (no cluster, no
// Docker engine). This checks what can be checked without them: every YAML document parses and has the kind and
// fields the others rely on; the replica's config file passes the cloud service's own config resolver; the names
// that tie files together (Secrets, ports, labels, the HPA target, password variables, workspaces) match; and the
// Dockerfiles copy files that exist.
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@cleave/cli';
import { CONFIG_ENV, resolveCloudConfig } from '@cleave/cloud-service';
import { DEPLOY_NATS_DIR, readDevCredentials } from '../harness/mod.js';

const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');
const DOCKER_DIR = join(REPO_ROOT, 'deploy', 'docker');

/** A parsed YAML document; manifests are checked field by field, so `any`-free access goes through `at()`. */
type Doc = Record<string, unknown>;

async function yamlDocs(file: string): Promise<Doc[]> {
  const docs = parseAllDocuments(await readFile(join(K8S_DIR, file), 'utf8'));
  for (const doc of docs) expect(doc.errors, `${file}: ${doc.errors.map((e) => e.message).join('; ')}`).toEqual([]);
  return docs.map((d) => d.toJS() as Doc);
}

/** Follows a path of keys and indexes; undefined when any step is missing. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key];
  }
  return node;
}

async function manifest(file: string, kind: string): Promise<Doc> {
  const docs = await yamlDocs(file);
  expect(docs.map((d) => d['kind'])).toEqual([kind]);
  return docs[0]!;
}

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string } };
  livenessProbe?: { httpGet?: { path: string; port: string } };
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string }[];
}

function onlyContainer(deployment: Doc): Container {
  const containers = at(deployment, 'spec', 'template', 'spec', 'containers') as Container[];
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

function portNumber(container: Container, name: string): number | undefined {
  return container.ports?.find((p) => p.name === name)?.containerPort;
}

describe('deploy/kubernetes', () => {
  it('parses, and kustomization.yaml lists every manifest (the Secret example and Helm values stay out)', async () => {
    const files = (await readdir(K8S_DIR)).filter((f) => f.endsWith('.yaml')).sort();
    for (const file of files) await yamlDocs(file);
    const kustomization = await manifest('kustomization.yaml', 'Kustomization');
    const resources = at(kustomization, 'resources') as string[];
    const generated = at(kustomization, 'configMapGenerator', 0, 'files') as string[];
    expect(generated).toEqual(['cloud.yaml']);
    const notResources = ['kustomization.yaml', 'cloud.yaml', 'secrets.example.yaml', 'nats-values.yaml'];
    expect([...resources].sort()).toEqual(files.filter((f) => !notResources.includes(f)));
    expect(at(kustomization, 'namespace')).toBe('cleave');
    expect(at(await manifest('namespace.yaml', 'Namespace'), 'metadata', 'name')).toBe('cleave');
  });

  it('runs `cleave cloud` with probes on the health port of its config, a drain that fits the grace period, as non-root', async () => {
    const deployment = await manifest('cloud-deployment.yaml', 'Deployment');
    const container = onlyContainer(deployment);
    expect(container.args?.[0]).toBe('/app/cloud-service/dist/main.js');
    const configPath = container.args?.[container.args.indexOf('--config') + 1];
    expect(configPath).toBe('/etc/cleave/cloud.yaml');

    // The mounted file is cloud.yaml, through the ConfigMap kustomize generates from it.
    const mount = container.volumeMounts?.find((m) => m.mountPath === '/etc/cleave');
    const volumes = at(deployment, 'spec', 'template', 'spec', 'volumes') as Doc[];
    expect(
      at(
        volumes.find((v) => v['name'] === mount?.name),
        'configMap',
        'name',
      ),
    ).toBe('cleave-cloud-config');

    // The same resolver `cleave cloud` runs, with the literal env values the Deployment sets.
    const literalEnv = Object.fromEntries(
      (container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
    );
    const config = await resolveCloudConfig({
      configPath: join(K8S_DIR, 'cloud.yaml'),
      env: literalEnv,
      defaults: { replica: 'pod-name' },
    });
    for (const { name } of container.env ?? []) {
      const runtime = ['CLEAVE_LOG_LEVEL', 'NODE_OPTIONS', 'MALLOC_MMAP_THRESHOLD_']; // read by Cleave, node, glibc
      const known = name in CONFIG_ENV || runtime.includes(name);
      expect(known, `${name} is read by cleave cloud, node or glibc`).toBe(true);
    }

    expect(config.http).toMatchObject({ enabled: true, host: '0.0.0.0' });
    expect(portNumber(container, 'http')).toBe(config.http.port);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'http' });
    const grace = at(deployment, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') as number;
    expect(grace * 1000).toBeGreaterThan(config.drain.timeoutMs);

    // The HPA needs a CPU request; onnxruntime's pool matches it instead of the node's core count.
    expect(Number(container.resources?.requests?.cpu)).toBe(config.onnx.intraOpThreads);
    expect(container.resources?.limits?.memory).toBeDefined();
    expect(at(deployment, 'spec', 'replicas')).toBeUndefined();
    expect(at(deployment, 'spec', 'template', 'spec', 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });

  it('scales that Deployment on CPU with autoscaling/v2; the PDB and the metrics Service select its pods', async () => {
    const deployment = await manifest('cloud-deployment.yaml', 'Deployment');
    const podLabels = at(deployment, 'spec', 'template', 'metadata', 'labels') as Record<string, string>;
    const hpa = await manifest('cloud-hpa.yaml', 'HorizontalPodAutoscaler');
    expect(hpa['apiVersion']).toBe('autoscaling/v2');
    expect(at(hpa, 'spec', 'scaleTargetRef')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: at(deployment, 'metadata', 'name'),
    });
    expect(at(hpa, 'spec', 'metrics', 0, 'resource', 'name')).toBe('cpu');
    expect(at(hpa, 'spec', 'minReplicas')).toBeGreaterThanOrEqual(2);

    const pdb = await manifest('cloud-pdb.yaml', 'PodDisruptionBudget');
    expect(podLabels).toMatchObject(at(pdb, 'spec', 'selector', 'matchLabels') as object);
    const service = await manifest('cloud-service.yaml', 'Service');
    expect(podLabels).toMatchObject(at(service, 'spec', 'selector') as object);
    expect(portNumber(onlyContainer(deployment), at(service, 'spec', 'ports', 0, 'targetPort') as string)).toBe(9464);
  });

  it('runs the console on 0.0.0.0 inside its pod behind a ClusterIP Service, token from a Secret, /healthz probes', async () => {
    const deployment = await manifest('console-deployment.yaml', 'Deployment');
    const container = onlyContainer(deployment);
    expect(container.args?.slice(0, 3)).toEqual(['/app/console/dist/main.js', '--host', '0.0.0.0']);
    const port = Number(container.args?.[container.args.indexOf('--port') + 1]);
    expect(portNumber(container, 'http')).toBe(port);
    expect(container.env?.find((e) => e.name === 'CLEAVE_CONSOLE_TOKEN')?.valueFrom?.secretKeyRef).toBeDefined();
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Sessions are signed per process: more than one replica would reject each other's cookies.
    expect(at(deployment, 'spec', 'replicas')).toBe(1);

    const service = await manifest('console-service.yaml', 'Service');
    expect(at(service, 'spec', 'type')).toBe('ClusterIP');
    expect(at(deployment, 'spec', 'template', 'metadata', 'labels')).toMatchObject(
      at(service, 'spec', 'selector') as object,
    );
    expect(portNumber(container, at(service, 'spec', 'ports', 0, 'targetPort') as string)).toBe(port);
  });

  it('refers only to Secrets and keys that secrets.example.yaml shows', async () => {
    const secrets = await yamlDocs('secrets.example.yaml');
    expect(new Set(secrets.map((s) => s['kind']))).toEqual(new Set(['Secret']));
    const keys = new Set(
      secrets.flatMap((s) =>
        Object.keys(at(s, 'stringData') as object).map((k) => `${String(at(s, 'metadata', 'name'))}/${k}`),
      ),
    );
    const refs = [];
    for (const file of ['cloud-deployment.yaml', 'console-deployment.yaml']) {
      for (const env of onlyContainer(await manifest(file, 'Deployment')).env ?? []) {
        const ref = env.valueFrom?.secretKeyRef;
        if (ref) refs.push(`${ref.name}/${ref.key}`);
      }
    }
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(keys, ref).toContain(ref);
  });

  it('gives the NATS servers (Helm values) every password variable accounts.conf reads, as does dev-credentials.env', async () => {
    const accounts = await readFile(join(DEPLOY_NATS_DIR, 'accounts.conf'), 'utf8');
    const code = accounts
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('#'))
      .join('\n');
    const variables = new Set([...code.matchAll(/\$(CLEAVE_PASS_[A-Z0-9_]+)/g)].map((m) => m[1]!));
    expect(variables.size).toBeGreaterThanOrEqual(7);
    expect(new Set(Object.keys(await readDevCredentials()))).toEqual(variables);

    const [values] = await yamlDocs('nats-values.yaml');
    expect(at(values, 'config', 'merge', '$include')).toBe('accounts.conf');
    expect(at(values, 'config', 'cluster', 'replicas')).toBe(3);
    expect(at(values, 'config', 'jetstream', 'enabled')).toBe(true);
    const env = at(values, 'container', 'env') as Record<string, unknown>;
    expect(new Set(Object.keys(env))).toEqual(variables);
    for (const name of variables) expect(at(env, name, 'valueFrom', 'secretKeyRef', 'key')).toBe(name);
  });
});

describe('deploy/docker', () => {
  const dockerfiles = ['Dockerfile.cloud', 'Dockerfile.edge'];

  it.each(dockerfiles)(
    '%s copies every workspace manifest and only files that exist, and runs as user node',
    async (name) => {
      const text = await readFile(join(DOCKER_DIR, name), 'utf8');
      const instructions = text
        .replace(/\\\n/g, ' ')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
      const copies = instructions
        .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
        .flatMap((l) => l.split(/\s+/).slice(1, -1));
      for (const source of copies) await expect(access(join(REPO_ROOT, source))).resolves.toBeUndefined();

      // npm ci needs the manifest of every workspace the lockfile knows.
      const rootPackage = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        workspaces: string[];
      };
      for (const workspace of rootPackage.workspaces) expect(copies).toContain(`${workspace}/package.json`);
      expect(copies).toContain('.npmrc');

      const runtime = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM ')));
      expect(runtime).toContain('USER node');
      // Each image starts its daemon's own binary, which the workspace declares as its bin.
      const [workspace, bin] =
        name === 'Dockerfile.edge' ? ['edge-agent', 'cleave-edge'] : ['cloud-service', 'cleave-cloud'];
      const start = runtime.filter((l) => l.startsWith('ENTRYPOINT') || l.startsWith('CMD')).join(' ');
      expect(start).toContain(`"/app/${workspace}/dist/main.js"`);
      const pkg = JSON.parse(await readFile(join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as {
        bin: Record<string, string>;
      };
      expect(pkg.bin[bin]).toBe('./dist/main.js');
      // Only that workspace's production dependencies: the edge image holds no partitioner, cloud or console.
      const install = runtime.find((l) => l.startsWith('RUN npm ci'))!;
      expect(install).toContain(`--workspace=@cleave/${workspace}`);
      expect(install).not.toContain('@cleave/cli');
      if (workspace === 'edge-agent') {
        for (const other of ['partitioner', 'cloud-service', 'console'])
          expect(runtime.join('\n')).not.toContain(`/${other}/dist`);
      }

      const ignore = (await readFile(join(DOCKER_DIR, `${name}.dockerignore`), 'utf8')).split('\n');
      expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
    },
  );
});
