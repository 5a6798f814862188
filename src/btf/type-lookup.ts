/**
 * Name lookups inside one struct, union or enum, built once per type on first use. CO-RE
 * matching asks "which member of this struct is called x" once per relocation and
 * candidate; a linear scan each time makes thousands of relocations on a struct of thousands
 * of members quadratic. A lookup answers in the order a scan would (first match, anonymous
 * members in place), so results are unchanged. Small types keep the plain scan.
 */
import { essentialName } from './names.js';

/** Types with more elements than this get a lookup; smaller ones are scanned. */
export const LOOKUP_MIN_ELEMENTS = 16;

export interface MemberLookup {
  /** Index of the first named member with this exact name. */
  firstByName: Map<string, number>;
  /** Indices of anonymous members (name offset 0 or an empty string), in order. */
  anonymous: number[];
  /** Indices of named members by essential name, in order. */
  byEssentialName: Map<string, number[]>;
  /** Index of the first member whose name offset is outside the string section, or the member count. */
  firstBadName: number;
}

export interface EnumeratorLookup {
  /** Index of the first enumerator per essential name ('' for anonymous ones). */
  firstByEssentialName: Map<string, number>;
  /** Index of the first enumerator whose name offset is outside the string section, or the count. */
  firstBadName: number;
}

/** `name(i)` returns member i's name, or undefined when its offset is bad. */
export function buildMemberLookup(count: number, name: (i: number) => string | undefined): MemberLookup {
  const lookup: MemberLookup = { firstByName: new Map(), anonymous: [], byEssentialName: new Map(), firstBadName: count };
  for (let i = 0; i < count; i++) {
    const n = name(i);
    if (n === undefined) {
      lookup.firstBadName = i;
      break;
    }
    if (n === '') {
      lookup.anonymous.push(i);
      continue;
    }
    if (!lookup.firstByName.has(n)) lookup.firstByName.set(n, i);
    const essential = essentialName(n);
    const list = lookup.byEssentialName.get(essential);
    if (list) list.push(i);
    else lookup.byEssentialName.set(essential, [i]);
  }
  return lookup;
}

export function buildEnumeratorLookup(count: number, name: (i: number) => string | undefined): EnumeratorLookup {
  const lookup: EnumeratorLookup = { firstByEssentialName: new Map(), firstBadName: count };
  for (let i = 0; i < count; i++) {
    const n = name(i);
    if (n === undefined) {
      lookup.firstBadName = i;
      break;
    }
    const essential = essentialName(n);
    if (!lookup.firstByEssentialName.has(essential)) lookup.firstByEssentialName.set(essential, i);
  }
  return lookup;
}
