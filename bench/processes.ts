// The bench's child processes (targets, stand-ins, Redis, coturn): each started and waited
// for until it listens, its stderr kept to say why it died, and every one of them killed
// when the bench ends or is interrupted.

import { spawn, type ChildProcess } from 'node:child_process';
import { waitForPort } from './ports.js';

export interface Processes {
  /** Starts `command` and resolves once it listens on `port` (TCP). */
  start(name: string, command: string, args: string[], env: Record<string, string>, port: number): Promise<ChildProcess>;
  stop(child: ChildProcess): Promise<void>;
  /** SIGKILL to every child still running: the bench is ending. */
  killAll(): void;
}

export function processGroup(): Processes {
  const children = new Set<ChildProcess>();
  let ending = false;
  return {
    async start(name, command, args, env, port) {
      const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      children.add(child);
      const exited = new Promise<never>((_, reject) => {
        child.once('error', (error) => reject(new Error(`cannot start ${name} (${command}): ${error.message}`)));
        child.once('exit', (code, signal) => {
          children.delete(child);
          if (code !== 0 && signal === null && !ending) process.stderr.write(`${name} exited ${code}: ${stderr}\n`);
          reject(new Error(`${name} exited ${code ?? signal} before listening: ${stderr}`));
        });
      });
      exited.catch(() => {});
      await Promise.race([waitForPort(port), exited]);
      return child;
    },
    async stop(child) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
    killAll() {
      ending = true;
      for (const child of children) child.kill('SIGKILL');
    },
  };
}
