// docs/deployment.md's snippets, as an operator copies them: every reverse proxy routes the
// three turnServer paths, and the YAML parses, the Ingress among it a valid Kubernetes object.

import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { parse as parseYaml } from 'yaml';
import { TURN_SERVER_PATHS } from '../../../src/http/routes.js';
import { readPage, sectionUnder } from './markdown.js';

const PAGE = readPage('docs/deployment.md');

const codeBlocks = (text: string, language = '\\w*') =>
  [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);

describe('the reverse proxies of docs/deployment.md', () => {
  const proxies = sectionUnder(PAGE, 'Reverse proxies');

  it('lists exactly the paths the service answers', () => {
    const listed = codeBlocks(proxies)[0]!.trim().split('\n');
    expect([...listed].sort()).toEqual([...TURN_SERVER_PATHS].sort());
  });

  it.each(['nginx', 'Caddy', 'Traefik', 'ingress-nginx'])('routes all three turnServer paths in the %s snippet', (proxy) => {
    const snippet = codeBlocks(sectionUnder(proxies, proxy)).join('\n');
    expect(TURN_SERVER_PATHS.filter((path) => !snippet.includes(path))).toEqual([]);
  });
});

describe('the YAML of docs/deployment.md', () => {
  it('parses, and its one Kubernetes object validates', () => {
    const blocks = codeBlocks(PAGE, 'yaml');
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    let objects = 0;
    for (const block of blocks) {
      const doc = parseYaml(block) as { apiVersion?: string; kind?: string } | null;
      expect(doc).not.toBeNull();
      if (doc?.kind === 'Ingress') {
        objects += 1;
        expect(() => new Ingress(doc as never).validate()).not.toThrow();
      }
    }
    expect(objects).toBe(1);
  });
});
