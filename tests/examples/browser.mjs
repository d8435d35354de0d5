// browser.mjs — runs a README `js` block, written for a page served by mlpd, in node:
//   node browser.mjs BLOCK.mjs   (READMEX_BASE=http://127.0.0.1:PORT, the daemon's origin)
// A page's relative URLs resolve against its origin, so fetch() here resolves them against
// READMEX_BASE and is otherwise node's own. Node has no EventSource: the class below stands in
// for it, reading the same text/event-stream over fetch (event:, data:, id:, ': ' comments) and
// calling the listeners per event type; unlike a browser's it does not reconnect. The real
// EventSource is exercised by the dashboard's browser test (make test-browser). Fails when the
// block throws, when a stream fails, when the block leaves a stream open (it closes it on
// `done`), or when an event type the block listens for never came.
import { pathToFileURL } from 'node:url';

const base = process.env.READMEX_BASE;
if (!base) throw new Error('READMEX_BASE is not set');
const nodeFetch = globalThis.fetch;
globalThis.fetch = (url, opts) => nodeFetch(new URL(url, base), opts);

const open = new Set();
const seen = {};
let failure = null;

class EventSource {
  #listeners = {};
  #ctl = new AbortController();
  #closed = false;

  constructor(url) {
    this.url = new URL(url, base).href;
    open.add(this);
    this.#read().catch((e) => {
      if (!this.#closed) failure = failure ?? e;
    });
  }

  addEventListener(type, fn) {
    (this.#listeners[type] ??= []).push(fn);
    seen[type] ??= 0;
  }

  close() {
    this.#closed = true;
    this.#ctl.abort();
    open.delete(this);
  }

  async #read() {
    const r = await nodeFetch(this.url, {
      headers: { Accept: 'text/event-stream' },
      signal: this.#ctl.signal,
    });
    if (!r.ok) throw new Error(`${this.url}: HTTP ${r.status}`);
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of r.body) {
      buf += dec.decode(chunk, { stream: true });
      let m;
      while ((m = buf.match(/\r?\n\r?\n/))) {
        const raw = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        this.#dispatch(raw);
        if (this.#closed) return;
      }
    }
    if (!this.#closed) throw new Error(`${this.url}: the stream ended, not closed by the block`);
  }

  #dispatch(raw) {
    let type = 'message';
    const data = [];
    for (const line of raw.split(/\r?\n/)) {
      if (line === '' || line.startsWith(':')) continue;
      const k = line.indexOf(':');
      const field = k < 0 ? line : line.slice(0, k);
      let value = k < 0 ? '' : line.slice(k + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    const fns = this.#listeners[type] ?? [];
    if (fns.length) seen[type] += 1;
    for (const fn of fns) fn({ type, data: data.join('\n') });
  }
}
globalThis.EventSource = EventSource;

await import(pathToFileURL(process.argv[2]).href);
const t0 = Date.now();
while (open.size && !failure && Date.now() - t0 < 30000) {
  await new Promise((r) => setTimeout(r, 20));
}
if (failure) {
  console.error(`browser.mjs: ${failure.message ?? failure}`);
  process.exit(1);
}
if (open.size) {
  console.error('browser.mjs: an EventSource is still open after 30 s (no done event?)');
  process.exit(1);
}
const missed = Object.keys(seen).filter((t) => seen[t] === 0);
if (missed.length) {
  console.error(`browser.mjs: no '${missed.join("', '")}' event reached the block's listeners`);
  process.exit(1);
}
console.log(`browser.mjs: events delivered to the block's listeners: ${JSON.stringify(seen)}`);
