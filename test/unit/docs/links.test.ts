// Every relative link of README.md and docs/*.md leads somewhere: to a file or folder of the
// repository, and, when it names an anchor (`page.md#heading`, `#heading`), to a heading of
// that page under GitHub's slug. Links to other sites are not followed.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { REPO_ROOT } from '../../helpers/tools.js';
import { anchors, readPage } from './markdown.js';

const markdownIn = (folder: string) =>
  readdirSync(join(REPO_ROOT, folder))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `${folder}/${name}`);

const PAGES = ['README.md', 'SECURITY.md', 'CONTRIBUTING.md', ...markdownIn('docs'), ...markdownIn('examples')];

/** The link targets of a page, code blocks left out (a `[x](y)` in a snippet is not a link). */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

interface Repository {
  exists(path: string): boolean;
  anchorsOf(path: string): ReadonlySet<string>;
}

/** The links of `page` (a path from the repository's root) that lead nowhere, each with why. */
function brokenLinks(page: string, markdown: string, repository: Repository): string[] {
  const broken: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [file, anchor] = target.split('#', 2) as [string, string | undefined];
    const path = file === '' ? page : normalize(join(dirname(page), decodeURIComponent(file)));
    if (path.startsWith('..')) broken.push(`${target}: outside the repository`);
    else if (!repository.exists(path)) broken.push(`${target}: no file ${path}`);
    else if (anchor !== undefined && !path.endsWith('.md')) broken.push(`${target}: an anchor in a file that is not markdown`);
    else if (anchor !== undefined && !repository.anchorsOf(path).has(anchor)) broken.push(`${target}: no heading #${anchor} in ${path}`);
  }
  return broken;
}

const repository: Repository = {
  exists: (path) => existsSync(join(REPO_ROOT, path)),
  anchorsOf: (path) => (statSync(join(REPO_ROOT, path)).isFile() ? anchors(readPage(path)) : new Set()),
};

describe('the links of the documentation', () => {
  it('covers the README and every page of docs/', () => {
    expect(PAGES).toEqual(expect.arrayContaining(['README.md', 'docs/configuration.md', 'docs/operations.md', 'docs/deployment.md']));
  });

  it.each(PAGES)('%s: every relative link leads to a file and heading that exist', (page) => {
    const markdown = readPage(page);
    expect(linkTargets(markdown).length).toBeGreaterThan(0);
    expect(brokenLinks(page, markdown, repository)).toEqual([]);
  });

  it('tells a missing file, a missing heading and a way out of the repository from a good link', () => {
    const page = ['# Page', '## A `code` heading: yes', '[ok](#a-code-heading-yes) [ok](../README.md#matrix-turn-credentials)'];
    page.push('[gone](missing.md) [gone](#nowhere) [out](../../x.md) [web](https://example.org/#x)', '```', '[code](not-a-link.md)', '```');
    const fake: Repository = {
      exists: (path) => path === 'README.md' || path === 'docs/page.md',
      anchorsOf: (path) => (path === 'README.md' ? new Set(['matrix-turn-credentials']) : anchors(page.join('\n'))),
    };
    expect(brokenLinks('docs/page.md', page.join('\n'), fake)).toEqual([
      'missing.md: no file docs/missing.md',
      '#nowhere: no heading #nowhere in docs/page.md',
      '../../x.md: outside the repository',
    ]);
  });
});
