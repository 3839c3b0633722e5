// The service's version: package.json's, found beside the code whether it runs built
// (dist/src) or from source (src), as the image ships package.json next to dist/.

import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'matrix-turn-credentials' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // not at this level; try the next
    }
  }
  return 'unknown';
}

export const SERVICE_VERSION = readVersion();
