// Reading a paginated /api/v1 list whole (the Library and Tickets sections).
import { api } from './core.js';

/** Every item of a paginated list (the API gives at most 100 a page), up to ``cap``; the last page's answer
 * with all the items. */
export async function everything(path, cap = 1000) {
  const sep = path.includes('?') ? '&' : '?';
  let got = null; const items = [];
  do {
    got = await api('GET', `${path}${sep}limit=100&offset=${items.length}`);
    items.push(...got.items);
  } while (got.items.length && items.length < got.total && items.length < cap);
  return { ...got, items };
}
