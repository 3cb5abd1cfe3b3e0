/**
 * A red-black tree of disjoint inclusive pfn ranges keyed by their low pfn, stored as parallel typed
 * arrays indexed by node id. It stands in for the `rb_root` of an `iova_domain`: the allocator needs
 * in-order predecessor/successor steps from an arbitrary node (the cached node), lookups by pfn and
 * insert/erase, all without allocating per operation. Node ids stay stable while a node is in the tree
 * (erase relinks the successor instead of copying it), so a caller may hold an id as Linux holds a
 * `struct rb_node *`. Internal to the package.
 */

/** The null node id (the tree's shared leaf sentinel, as in CLRS: its parent slot is scratch space). */
export const NIL = 0;

/** Per-node flag: the range sits in a per-CPU range cache (allocated in the tree, free to the user). */
export const NODE_CACHED = 1;
/** Per-node flag: the range was made by `reserve_iova` (never handed out, never cached). */
export const NODE_RESERVED = 2;

const BLACK = 0;
const RED = 1;

/** The tree; see the module comment. Fields are public for the allocator's hot loops. */
export class RangeTree {
  lo: Float64Array;
  hi: Float64Array;
  left: Int32Array;
  right: Int32Array;
  parent: Int32Array;
  color: Uint8Array;
  flags: Uint8Array;
  root = NIL;
  size = 0;
  /** Head of the list of recycled ids, chained through `right`. */
  private freeHead = NIL;
  /** Next never-used id (0 is NIL). */
  private nextId = 1;

  constructor(capacity = 64) {
    this.lo = new Float64Array(capacity);
    this.hi = new Float64Array(capacity);
    this.left = new Int32Array(capacity);
    this.right = new Int32Array(capacity);
    this.parent = new Int32Array(capacity);
    this.color = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  private grow(): void {
    const cap = this.lo.length * 2;
    const growF = (a: Float64Array): Float64Array => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const growI = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const growU = (a: Uint8Array): Uint8Array => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    this.lo = growF(this.lo);
    this.hi = growF(this.hi);
    this.left = growI(this.left);
    this.right = growI(this.right);
    this.parent = growI(this.parent);
    this.color = growU(this.color);
    this.flags = growU(this.flags);
  }

  private newNode(lo: number, hi: number): number {
    let id = this.freeHead;
    if (id !== NIL) {
      this.freeHead = this.right[id]!;
    } else {
      if (this.nextId === this.lo.length) this.grow();
      id = this.nextId++;
    }
    this.lo[id] = lo;
    this.hi[id] = hi;
    this.left[id] = NIL;
    this.right[id] = NIL;
    this.parent[id] = NIL;
    this.color[id] = RED;
    this.flags[id] = 0;
    return id;
  }

  /** Lowest node, or NIL. */
  first(): number {
    let x = this.root;
    if (x === NIL) return NIL;
    while (this.left[x] !== NIL) x = this.left[x]!;
    return x;
  }

  /** In-order successor (`rb_next`), or NIL. */
  next(x: number): number {
    const right = this.right;
    let r = right[x]!;
    if (r !== NIL) {
      while (this.left[r] !== NIL) r = this.left[r]!;
      return r;
    }
    let p = this.parent[x]!;
    while (p !== NIL && x === right[p]) {
      x = p;
      p = this.parent[p]!;
    }
    return p;
  }

  /** In-order predecessor (`rb_prev`), or NIL. */
  prev(x: number): number {
    const left = this.left;
    let l = left[x]!;
    if (l !== NIL) {
      while (this.right[l] !== NIL) l = this.right[l]!;
      return l;
    }
    let p = this.parent[x]!;
    while (p !== NIL && x === left[p]) {
      x = p;
      p = this.parent[p]!;
    }
    return p;
  }

  /** The node whose range contains `pfn` (`private_find_iova`), or NIL. */
  findContaining(pfn: number): number {
    let x = this.root;
    while (x !== NIL) {
      if (pfn < this.lo[x]!) x = this.left[x]!;
      else if (pfn > this.hi[x]!) x = this.right[x]!;
      else return x;
    }
    return NIL;
  }

  /** The lowest node whose `hi >= pfn`, or NIL (ranges are disjoint, so `hi` is sorted too). */
  lowestEndingAtOrAbove(pfn: number): number {
    let x = this.root;
    let best = NIL;
    while (x !== NIL) {
      if (this.hi[x]! >= pfn) {
        best = x;
        x = this.left[x]!;
      } else {
        x = this.right[x]!;
      }
    }
    return best;
  }

  private rotateLeft(x: number): void {
    const { left, right, parent } = this;
    const y = right[x]!;
    right[x] = left[y]!;
    if (left[y] !== NIL) parent[left[y]!] = x;
    const px = parent[x]!;
    parent[y] = px;
    if (px === NIL) this.root = y;
    else if (x === left[px]) left[px] = y;
    else right[px] = y;
    left[y] = x;
    parent[x] = y;
  }

  private rotateRight(x: number): void {
    const { left, right, parent } = this;
    const y = left[x]!;
    left[x] = right[y]!;
    if (right[y] !== NIL) parent[right[y]!] = x;
    const px = parent[x]!;
    parent[y] = px;
    if (px === NIL) this.root = y;
    else if (x === right[px]) right[px] = y;
    else left[px] = y;
    right[y] = x;
    parent[x] = y;
  }

  /**
   * Inserts `[lo, hi]` and returns its id. Equal keys go right, which never happens for the
   * allocator's disjoint ranges (Linux WARNs on a duplicate `pfn_lo`).
   */
  insert(lo: number, hi: number): number {
    const z = this.newNode(lo, hi);
    let y = NIL;
    let x = this.root;
    while (x !== NIL) {
      y = x;
      x = lo < this.lo[x]! ? this.left[x]! : this.right[x]!;
    }
    this.parent[z] = y;
    if (y === NIL) this.root = z;
    else if (lo < this.lo[y]!) this.left[y] = z;
    else this.right[y] = z;
    this.size++;
    this.insertFixup(z);
    return z;
  }

  private insertFixup(z: number): void {
    const { parent, color, left, right } = this;
    while (color[parent[z]!] === RED) {
      const p = parent[z]!;
      const g = parent[p]!;
      if (p === left[g]) {
        const u = right[g]!;
        if (color[u] === RED) {
          color[p] = BLACK;
          color[u] = BLACK;
          color[g] = RED;
          z = g;
        } else {
          if (z === right[p]) {
            z = p;
            this.rotateLeft(z);
          }
          const p2 = parent[z]!;
          color[p2] = BLACK;
          color[parent[p2]!] = RED;
          this.rotateRight(parent[p2]!);
        }
      } else {
        const u = left[g]!;
        if (color[u] === RED) {
          color[p] = BLACK;
          color[u] = BLACK;
          color[g] = RED;
          z = g;
        } else {
          if (z === left[p]) {
            z = p;
            this.rotateRight(z);
          }
          const p2 = parent[z]!;
          color[p2] = BLACK;
          color[parent[p2]!] = RED;
          this.rotateLeft(parent[p2]!);
        }
      }
    }
    color[this.root] = BLACK;
  }

  private transplant(u: number, v: number): void {
    const pu = this.parent[u]!;
    if (pu === NIL) this.root = v;
    else if (u === this.left[pu]) this.left[pu] = v;
    else this.right[pu] = v;
    this.parent[v] = pu;
  }

  /** Removes node `z` (`rb_erase`) and recycles its id. */
  erase(z: number): void {
    const { left, right, parent, color } = this;
    let y = z;
    let yColor = color[y]!;
    let x: number;
    if (left[z] === NIL) {
      x = right[z]!;
      this.transplant(z, x);
    } else if (right[z] === NIL) {
      x = left[z]!;
      this.transplant(z, x);
    } else {
      y = right[z]!;
      while (left[y] !== NIL) y = left[y]!;
      yColor = color[y]!;
      x = right[y]!;
      if (parent[y] === z) {
        parent[x] = y;
      } else {
        this.transplant(y, right[y]!);
        right[y] = right[z]!;
        parent[right[y]!] = y;
      }
      this.transplant(z, y);
      left[y] = left[z]!;
      parent[left[y]!] = y;
      color[y] = color[z]!;
    }
    if (yColor === BLACK) this.eraseFixup(x);
    // The sentinel's parent was scratch space; keep it clean for the next walk.
    parent[NIL] = NIL;
    this.size--;
    right[z] = this.freeHead;
    this.freeHead = z;
  }

  private eraseFixup(x: number): void {
    const { left, right, parent, color } = this;
    while (x !== this.root && color[x] === BLACK) {
      const p = parent[x]!;
      if (x === left[p]) {
        let w = right[p]!;
        if (color[w] === RED) {
          color[w] = BLACK;
          color[p] = RED;
          this.rotateLeft(p);
          w = right[parent[x]!]!;
        }
        if (color[left[w]!] === BLACK && color[right[w]!] === BLACK) {
          color[w] = RED;
          x = parent[x]!;
        } else {
          if (color[right[w]!] === BLACK) {
            color[left[w]!] = BLACK;
            color[w] = RED;
            this.rotateRight(w);
            w = right[parent[x]!]!;
          }
          const px = parent[x]!;
          color[w] = color[px]!;
          color[px] = BLACK;
          color[right[w]!] = BLACK;
          this.rotateLeft(px);
          x = this.root;
        }
      } else {
        let w = left[p]!;
        if (color[w] === RED) {
          color[w] = BLACK;
          color[p] = RED;
          this.rotateRight(p);
          w = left[parent[x]!]!;
        }
        if (color[right[w]!] === BLACK && color[left[w]!] === BLACK) {
          color[w] = RED;
          x = parent[x]!;
        } else {
          if (color[left[w]!] === BLACK) {
            color[right[w]!] = BLACK;
            color[w] = RED;
            this.rotateLeft(w);
            w = left[parent[x]!]!;
          }
          const px = parent[x]!;
          color[w] = color[px]!;
          color[px] = BLACK;
          color[left[w]!] = BLACK;
          this.rotateRight(px);
          x = this.root;
        }
      }
    }
    color[x] = BLACK;
  }

  /** Removes every node. */
  clear(): void {
    this.root = NIL;
    this.size = 0;
    this.freeHead = NIL;
    this.nextId = 1;
  }

  /**
   * Checks the red-black and ordering invariants; returns a description of the first violation or
   * null. For tests.
   */
  validate(): string | null {
    const { left, right, parent, color, lo, hi } = this;
    if (color[NIL] !== BLACK) return "sentinel is red";
    if (this.root !== NIL && color[this.root] !== BLACK) return "root is red";
    let count = 0;
    let problem: string | null = null;
    const walk = (x: number, min: number, max: number): number => {
      if (x === NIL) return 1;
      count++;
      if (lo[x]! > hi[x]!) problem ??= `node ${x} has lo > hi`;
      if (lo[x]! < min || lo[x]! > max) problem ??= `node ${x} out of order`;
      if (left[x] !== NIL && parent[left[x]!] !== x) problem ??= `bad parent link under ${x}`;
      if (right[x] !== NIL && parent[right[x]!] !== x) problem ??= `bad parent link under ${x}`;
      if (color[x] === RED && (color[left[x]!] === RED || color[right[x]!] === RED)) {
        problem ??= `red node ${x} has a red child`;
      }
      const bl = walk(left[x]!, min, lo[x]!);
      const br = walk(right[x]!, lo[x]!, max);
      if (bl !== br) problem ??= `black heights differ under ${x}`;
      return bl + (color[x] === BLACK ? 1 : 0);
    };
    walk(this.root, -Infinity, Infinity);
    if (count !== this.size) problem ??= `size ${this.size} but ${count} nodes reachable`;
    return problem;
  }
}
