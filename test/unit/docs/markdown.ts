// Reading the documentation as the tests need it: a page's headings (outside code fences)
// with their GitHub anchors, the text under one heading, the rows of its tables and the
// names written in backticks. The doc tests find what they check by heading, so a page can
// be rearranged freely as long as the headings they name stay.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../helpers/tools.js';

/** A page of the repository (README.md, docs/configuration.md, ...), read from its root. */
export function readPage(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}

export interface Heading {
  readonly level: number;
  readonly text: string;
  readonly line: number;
}

/** The headings of a page, in order; lines inside ``` fences are code, never headings. */
export function headings(markdown: string): Heading[] {
  const found: Heading[] = [];
  let fenced = false;
  markdown.split('\n').forEach((line, index) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const match = fenced ? null : /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (match) found.push({ level: match[1]!.length, text: match[2]!, line: index });
  });
  return found;
}

/** GitHub's anchor for a heading: its visible text in lower case, punctuation dropped, each space a hyphen. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a page, repeated headings numbered as GitHub numbers them (name, name-1, name-2). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { text } of headings(markdown)) {
    const base = slug(text);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/**
 * The text under the heading with exactly this text, up to the next heading of the same or a
 * higher level. Throws, naming the heading, when the page has no such heading: a test that
 * looks for a section fails rather than checking nothing.
 */
export function sectionUnder(markdown: string, title: string): string {
  const all = headings(markdown);
  const index = all.findIndex((h) => h.text === title);
  const start = all[index];
  if (start === undefined) throw new Error(`no heading "${title}" on the page`);
  const next = all.slice(index + 1).find((h) => h.level <= start.level);
  const lines = markdown.split('\n');
  return lines.slice(start.line, next === undefined ? lines.length : next.line).join('\n');
}

export interface TableRow {
  readonly cells: string[];
  readonly text: string;
  readonly header: string[];
}

/** The rows of the markdown tables in a piece of text (header and separator rows left out), with the header each belongs to. */
export function tableRows(text: string): TableRow[] {
  const rows: TableRow[] = [];
  let header: string[] | undefined;
  let previous: string[] | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      header = undefined;
      previous = undefined;
      continue;
    }
    const cells = line
      .replace(/\\\|/g, '\uE000')
      .split('|')
      .slice(1, -1)
      .map((c) => c.replace(/\uE000/g, '|').trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) {
      header = previous;
      continue;
    }
    previous = cells;
    if (header !== undefined) rows.push({ cells, text: line, header });
  }
  return rows;
}

/** The pieces of a text written in backticks. */
export const backticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
