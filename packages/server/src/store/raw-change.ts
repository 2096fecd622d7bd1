import type { ServerChange } from '@mana/sync-protocol';

/**
 * A server change of a large record whose large field values stay the JSON text the database
 * returned (jsonb's text form), never parsed nor serialized again. Why: a record of 10 MB made
 * the server parse 10 MB of JSON, build its change and serialize it whole, tens of ms of a
 * blocked event loop each and several copies in memory (issue 20, the abuse benchmark).
 *
 * `parts` concatenated are the change's JSON; a response writes them one after another
 * (pageChunks). The values' text is jsonb's: the same values as JSON.stringify's, with a
 * space after `:` and `,` inside objects and arrays, and numbers with their stored digits.
 */
export class RawChange implements ServerChange {
  private parsed: ServerChange | undefined;
  constructor(readonly parts: readonly Piece[]) {}

  /** For a caller that reads the change or serializes it whole: parsed once, when asked. */
  toJSON(): ServerChange {
    this.parsed ??= JSON.parse(this.parts.map(text).join('')) as ServerChange;
    return this.parsed;
  }
  get table() {
    return this.toJSON().table;
  }
  get id() {
    return this.toJSON().id;
  }
  get op() {
    return this.toJSON().op;
  }
  get fields() {
    return this.toJSON().fields;
  }
  get deletedAt() {
    return this.toJSON().deletedAt;
  }
  get updatedAt() {
    return this.toJSON().updatedAt;
  }
  get eventId() {
    return this.toJSON().eventId;
  }
  get actor() {
    return this.toJSON().actor;
  }
}

/**
 * A piece of JSON text: a string, or its UTF-8 bytes (a raw value as postgres.js received it,
 * never decoded: db/sql.ts Query.bytes).
 */
export type Piece = string | Uint8Array;

const decoder = new TextDecoder();
function text(piece: Piece): string {
  return typeof piece === 'string' ? piece : decoder.decode(piece);
}

/**
 * Stands for raw value `i` while the change is built and serialized. It holds a NUL, which
 * nothing read from PostgreSQL can (text and jsonb refuse it), so its serialized form,
 * `"\u0000i"`, is found only where a placeholder was put.
 */
export function placeholder(i: number): string {
  return `\u0000${i}`;
}
const PLACEHOLDER_JSON = /"\\u0000(\d+)"/;

/**
 * The change built with placeholders for values, serialized, with each placeholder replaced
 * by its raw text. One implementation of the change's rules (toServerChange) for both forms.
 */
export function spliceRaw(change: ServerChange, raws: readonly Piece[]): RawChange {
  const pieces: Piece[] = JSON.stringify(change).split(PLACEHOLDER_JSON);
  // split with a capture group: text, index, text, index, …, text.
  for (let i = 1; i < pieces.length; i += 2) pieces[i] = raws[Number(pieces[i])]!;
  return new RawChange(pieces);
}

/**
 * The raw values of a row: their texts joined by U+0001 (page.ts), as a string or as UTF-8
 * bytes, in which 0x01 is only ever that separator (every other byte of a multi-byte
 * character is 0x80 or more), cut into views, not copies.
 */
export function splitRaw(joined: Piece): Piece[] {
  if (typeof joined === 'string') return joined.split('\u0001');
  const out: Piece[] = [];
  let from = 0;
  for (let at = joined.indexOf(1); at !== -1; at = joined.indexOf(1, from)) {
    out.push(joined.subarray(from, at));
    from = at + 1;
  }
  out.push(joined.subarray(from));
  return out;
}

/**
 * A response body holding a page (a pull's or a push's answer, a stream's block), as the
 * pieces of its JSON text: the same text as JSON.stringify(body), except raw values in
 * jsonb's form. A page without raw changes is one piece, from one JSON.stringify (the fast
 * path of small records). Only the changes (`body[changesKey]`, ServerChange objects, some
 * of them RawChange) may hold raw values.
 */
export function pageChunks(body: object, changesKey = 'serverChanges'): Piece[] {
  const changes = (body as Record<string, unknown>)[changesKey] as readonly ServerChange[];
  if (!changes.some((c) => c instanceof RawChange)) return [JSON.stringify(body)];
  const out: Piece[] = [];
  let text = '{';
  let first = true;
  for (const [key, value] of Object.entries(body)) {
    if (value === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (key !== changesKey) {
      text += JSON.stringify(value);
      continue;
    }
    text += '[';
    (value as ServerChange[]).forEach((change, i) => {
      if (i > 0) text += ',';
      if (!(change instanceof RawChange)) {
        text += JSON.stringify(change);
        return;
      }
      for (const part of change.parts) {
        // Small pieces are joined; a large one (a value) goes out as it is, never copied.
        if (typeof part === 'string' && part.length < 65536) text += part;
        else {
          if (text) out.push(text);
          out.push(part);
          text = '';
        }
      }
    });
    text += ']';
  }
  out.push(`${text}}`);
  return out;
}
