// Every error class a Cleave package exports is a CodedError with a machine-readable code: found by walking the
// public entries, so a new class that extends Error directly, or is missing from the table below, fails here.
import { describe, expect, it } from 'vitest';
import * as cli from '@cleave/cli';
import * as cloudService from '@cleave/cloud-service';
import * as consolePackage from '@cleave/console';
import * as edgeAgent from '@cleave/edge-agent';
import * as edgeClient from '@cleave/edge-agent/client';
import * as nodeRuntime from '@cleave/node-runtime';
import * as commandLine from '@cleave/node-runtime/command-line';
import * as partitioner from '@cleave/partitioner';
import * as proto from '@cleave/proto';

const ENTRIES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  '@cleave/proto': proto,
  '@cleave/node-runtime': nodeRuntime,
  '@cleave/node-runtime/command-line': commandLine,
  '@cleave/partitioner': partitioner,
  '@cleave/edge-agent': edgeAgent,
  '@cleave/edge-agent/client': edgeClient,
  '@cleave/cloud-service': cloudService,
  '@cleave/console': consolePackage,
  '@cleave/cli': cli,
};

/** One instance of each exported error class, built with one of its own codes. */
const EXAMPLES: Readonly<Record<string, () => Error>> = {
  ProtocolError: () => new proto.ProtocolError(proto.ProtocolErrorCode.Malformed, 'm'),
  ExitEvaluationError: () => new proto.ExitEvaluationError(Object.values(proto.ExitEvaluationErrorCode)[0]!, 'm'),
  InvalidConfigError: () => new proto.InvalidConfigError(['a: b']),
  BundleStoreError: () => new nodeRuntime.BundleStoreError(nodeRuntime.BundleStoreErrorCode.NotFound, 'm'),
  ConfigError: () => new nodeRuntime.ConfigError(['a: b']),
  OnnxModelError: () => new partitioner.OnnxModelError(partitioner.OnnxModelErrorCode.NotOnnx, 'm'),
  DatasetError: () => new partitioner.DatasetError(Object.values(partitioner.DatasetErrorCode)[0]!, 'm'),
  ExitError: () => new partitioner.ExitError(Object.values(partitioner.ExitErrorCode)[0]!, 'm'),
  TaskError: () => new partitioner.TaskError(partitioner.TaskErrorCode.Unsupported, 'm'),
  BundleWriteError: () => new partitioner.BundleWriteError(partitioner.BundleWriteErrorCode.Exists, 'm'),
  ProfileFileError: () => new partitioner.ProfileFileError(partitioner.ProfileErrorCode.Invalid, 'm'),
  ProfileMismatchError: () => new partitioner.ProfileMismatchError('m'),
  EdgeAgentError: () => new edgeAgent.EdgeAgentError(edgeAgent.EdgeErrorCode.BadBody, 'm'),
  EdgeConfigError: () => new edgeAgent.EdgeConfigError(['a: b']),
  EdgeClientError: () => new edgeClient.EdgeClientError(edgeClient.EdgeClientErrorCode.HttpError, 500, 'm'),
  NatsServerError: () => new cli.NatsServerError(cli.NatsServerErrorCode.BinaryNotFound, 'm'),
};

/** Exported classes whose prototype chain reaches Error, by name (CodedError itself, the base, aside). */
function exportedErrorClasses(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const [entry, exports] of Object.entries(ENTRIES)) {
    for (const [name, value] of Object.entries(exports)) {
      if (typeof value !== 'function' || value === proto.CodedError) continue;
      if (!((value as { prototype?: unknown }).prototype instanceof Error)) continue;
      found.set(name, [...(found.get(name) ?? []), entry]);
    }
  }
  return found;
}

describe('error classes of the public entries', () => {
  const classes = exportedErrorClasses();

  it('are all in the table of examples', () => {
    expect([...classes.keys()].sort()).toEqual(Object.keys(EXAMPLES).sort());
  });

  it.each(Object.entries(EXAMPLES))('%s is a CodedError with a non-empty code and its own name', (name, make) => {
    const error = make();
    const exported = ENTRIES[classes.get(name)?.[0] ?? '']?.[name];
    expect(error).toBeInstanceOf(exported as new () => Error);
    expect(error).toBeInstanceOf(proto.CodedError);
    expect(error.name).toBe(name);
    const { code } = error as proto.CodedError;
    expect(typeof code).toBe('string');
    expect(code.length).toBeGreaterThan(0);
  });
});
