#!/usr/bin/env node
// `cleave-cloud`: the cloud replica on its own, for images that carry nothing else. `cleave cloud` is the same.
import { Command } from 'commander';
import { createProcessContext, runCommandLine } from '@cleave/node-runtime/command-line';
import { defineCloudCommand } from './cloud-command.js';

const ctx = createProcessContext();
await runCommandLine(defineCloudCommand(new Command('cleave-cloud'), ctx), ctx);
