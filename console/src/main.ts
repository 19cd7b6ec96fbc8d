#!/usr/bin/env node
// `cleave-console`: the operator console on its own. `cleave console` is the same command.
import { Command } from 'commander';
import { createProcessContext, runCommandLine } from '@cleave/node-runtime/command-line';
import { defineConsoleCommand } from './console-command.js';

const ctx = createProcessContext();
await runCommandLine(defineConsoleCommand(new Command('cleave-console'), ctx), ctx);
