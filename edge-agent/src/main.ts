#!/usr/bin/env node
// `cleave-edge`: the edge agent on its own, for gateways and images that carry nothing else (no partitioner, no
// cloud service, no console, no Python). `cleave edge` is the same command.
import { Command } from 'commander';
import { createProcessContext, runCommandLine } from '@cleave/node-runtime/command-line';
import { defineEdgeCommand } from './edge-command.js';

const ctx = createProcessContext();
await runCommandLine(defineEdgeCommand(new Command('cleave-edge'), ctx), ctx);
