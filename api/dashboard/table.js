// A keyed table that stays cheap with hundreds of rows: changes are queued and applied once
// per animation frame; only the rows that changed are rewritten (and only the cells whose
// text differs), and rows are moved, added or removed one by one, never rebuilt.
//
// Invariants: `order` holds every key in `objects`, sorted by `sortKey` (then key); a key's
// `<tr>` exists once it has been shown and is kept (detached) while filtered out, so
// showing it again costs no render.

export class KeyedTable {
  /**
   * @param {HTMLTableSectionElement} tbody
   * @param {{ sortKey(obj: object): string, render(tr: HTMLTableRowElement, obj: object, fresh: boolean): void,
   *   limit?: number, onFlush?(shown: number, total: number): void }} o
   */
  constructor(tbody, o) {
    this.tbody = tbody;
    this.o = o;
    this.objects = new Map(); // key → object
    this.sortKeys = new Map(); // key → sort key it is placed by in `order`
    this.rows = new Map(); // key → <tr>
    this.order = [];
    this.pending = new Map(); // key → object, or null for a deletion
    this.dirtyOrder = false;
    this.filter = () => true;
  }

  set(key, obj) {
    this.pending.set(key, obj);
  }

  delete(key) {
    this.pending.set(key, null);
  }

  /** Replaces every object (after a relist): keys not in `entries` are deleted. */
  reset(entries) {
    const keep = new Set();
    for (const [key, obj] of entries) {
      keep.add(key);
      this.pending.set(key, obj);
    }
    for (const key of this.objects.keys()) if (!keep.has(key)) this.pending.set(key, null);
  }

  setFilter(filter) {
    this.filter = filter;
    this.dirtyOrder = true;
  }

  get dirty() {
    return this.pending.size > 0 || this.dirtyOrder;
  }

  /** Applies the queued changes to the DOM. */
  flush() {
    for (const [key, obj] of this.pending) {
      if (obj === null) {
        if (!this.objects.has(key)) continue;
        this.objects.delete(key);
        this.order.splice(this.indexOf(key, this.sortKeys.get(key)), 1);
        this.sortKeys.delete(key);
        this.rows.get(key)?.remove();
        this.rows.delete(key);
        this.dirtyOrder = true;
        continue;
      }
      const sk = this.o.sortKey(obj);
      const old = this.sortKeys.get(key);
      if (old !== sk) {
        if (old !== undefined) this.order.splice(this.indexOf(key, old), 1);
        this.order.splice(this.insertionPoint(key, sk), 0, key);
        this.sortKeys.set(key, sk);
        this.dirtyOrder = true;
      }
      this.objects.set(key, obj);
      const tr = this.rows.get(key);
      if (tr) this.o.render(tr, obj, false);
      if (!this.dirtyOrder && !tr && this.filter(obj)) this.dirtyOrder = true;
    }
    this.pending.clear();
    if (this.dirtyOrder) this.place();
  }

  /** Makes the tbody's children the visible keys, in order, moving as few rows as it can. */
  place() {
    this.dirtyOrder = false;
    const limit = this.o.limit ?? Infinity;
    let cursor = this.tbody.firstElementChild;
    let shown = 0;
    let total = 0;
    for (const key of this.order) {
      const obj = this.objects.get(key);
      if (!this.filter(obj)) continue;
      total++;
      if (shown >= limit) continue;
      shown++;
      let tr = this.rows.get(key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = key;
        this.o.render(tr, obj, true);
        this.rows.set(key, tr);
      }
      if (tr === cursor) cursor = cursor.nextElementSibling;
      else this.tbody.insertBefore(tr, cursor);
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
    this.o.onFlush?.(shown, total);
  }

  compare(a, ak, b, bk) {
    return a < b ? -1 : a > b ? 1 : ak < bk ? -1 : ak > bk ? 1 : 0;
  }

  insertionPoint(key, sk) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const k = this.order[mid];
      if (this.compare(this.sortKeys.get(k), k, sk, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  indexOf(key, sk) {
    const i = this.insertionPoint(key, sk);
    return this.order[i] === key ? i : this.order.indexOf(key);
  }
}

/** Sets an element's text only when it differs (no mutation, no layout work otherwise). */
export function text(el, value) {
  const s = value === undefined || value === null ? '' : String(value);
  if (el.textContent !== s) el.textContent = s;
}

export function cls(el, value) {
  if (el.className !== value) el.className = value;
}

/** The row's cells, created on the first render. */
export function cells(tr, n, fresh) {
  if (fresh) for (let i = 0; i < n; i++) tr.appendChild(document.createElement('td'));
  return tr.children;
}
