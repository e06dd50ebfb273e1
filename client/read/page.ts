import { InvalidPageError } from "../errors/read.js";

/** Where a listing starts and how much it returns at most. */
export type PageParameters = {
  /** The first index (id for operators, registration order for streams). Default 0. */
  from?: number;
  /** The most items to return, 1..500. Default 100. */
  limit?: number;
};

/** One page of a listing. */
export type Page<T> = {
  /** The items, in index order. */
  items: T[];
  /** How many there are in all (the registry's count when the page was read). */
  total: number;
  /** The `from` of the next page, or undefined when this page reached the end. */
  next?: number;
};

/** The widest page: one eth_call returns it, and 500 records stay well inside providers' gas caps for calls. */
export const MAX_PAGE = 500;

/** Checks a page request and fills in its defaults. */
export function pageOf(opts: PageParameters = {}): { from: number; limit: number } {
  const from = opts.from ?? 0;
  const limit = opts.limit ?? 100;
  if (!Number.isSafeInteger(from) || from < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidPageError(from, limit, MAX_PAGE);
  }
  return { from, limit };
}

/**
 * The `next` of a page that started at `from`, returned `count` items, of `total`. An empty page
 * has no next even when `total` says there are more (the count and the page read at different
 * blocks by a load-balanced RPC): a caller following `next` would otherwise ask for it forever.
 */
export function nextOf(from: number, count: number, total: number): number | undefined {
  return count > 0 && from + count < total ? from + count : undefined;
}
